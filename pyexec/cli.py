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


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from core.migrate import upgrade

    upgrade(settings.db_url)
    print("database is at the latest schema")
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
