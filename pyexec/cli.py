"""The `pyexec` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from core.settings import Settings, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"pyexec: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.log_level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # arq logs a line per job, and reads PyExec's back-dated queue scores (see
        # core.redis_queue) as years of delay; its warnings and errors still show.
        logging.getLogger("arq").setLevel(logging.WARNING)
    try:
        return int(args.func(settings, args) or 0)
    except SettingsError as exc:
        print(f"pyexec: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyexec", description=__doc__)
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run API, worker and kernel pool in one process")
    serve.set_defaults(func=_serve)

    api = sub.add_parser("api", help="scaled out: serve HTTP, enqueue jobs on Redis (REDIS_URL)")
    api.set_defaults(func=_api)

    worker = sub.add_parser(
        "worker", help="scaled out: run jobs from Redis (REDIS_URL) with this process's kernels"
    )
    worker.set_defaults(func=_worker)

    migrate = sub.add_parser("migrate", help="bring the database to the latest schema")
    migrate.set_defaults(func=_migrate)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key; the key is the last line")
    create.add_argument("--email", required=True)
    create.add_argument("--plan", choices=["free", "pro", "business"], default="free")
    create.add_argument("--name", default="default")
    create.set_defaults(func=_keys_create)
    return parser


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    from pyexec.serve import serve

    return serve(settings)


def _api(settings: Settings, _args: argparse.Namespace) -> int:
    from pyexec.scaled import api

    return api(settings)


def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    from pyexec.scaled import worker

    return worker(settings)


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from core.migrate import current_revision, upgrade

    upgrade(settings.db_url)
    print(f"database is at the latest schema ({current_revision(settings.db_url)})")
    return 0


def _keys_create(settings: Settings, args: argparse.Namespace) -> int:
    from core.migrate import upgrade
    from pyexec.admin import create_key

    upgrade(settings.db_url)
    key, plaintext = asyncio.run(create_key(settings, args.email, args.plan, args.name))
    print(f"created key {key.id} ({key.name}, prefix {key.prefix}) for {args.email}")
    print(plaintext)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
