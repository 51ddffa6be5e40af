"""The `pyexec` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pyexec.admin import AdminError
from pyexec.core.accounts import UnknownScopeError
from pyexec.core.models import ALL_SCOPES
from pyexec.core.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


class AdminInputError(ValueError):
    """A bad command-line value that argparse cannot check by itself."""


def main(argv: Sequence[str] | None = None) -> int:
    # Everything the service writes (database, keys, files, notebooks) is its own user's.
    os.umask(0o077)
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
    except (AdminError, UnknownScopeError, AdminInputError) as exc:
        # An operator mistake, not a crash: say what it was, no traceback.
        print(f"pyexec: {exc}", file=sys.stderr)
        return 1
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

    plans = ["free", "pro", "business"]
    accounts = sub.add_parser("accounts", help="manage accounts and their plans")
    accounts_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    acc_create = accounts_sub.add_parser("create", help="create an account")
    acc_create.add_argument("--email", required=True)
    acc_create.add_argument("--plan", choices=plans, default="free")
    acc_create.set_defaults(func=_accounts_create)
    set_plan = accounts_sub.add_parser("set-plan", help="move an account to another plan")
    set_plan.add_argument("--email", required=True)
    set_plan.add_argument("--plan", choices=plans, required=True)
    set_plan.set_defaults(func=_accounts_set_plan)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key; the key is the last line")
    create.add_argument("--email", required=True)
    create.add_argument(
        "--plan", choices=plans, default=None, help="plan of the account if it is created here"
    )
    create.add_argument("--name", default="default")
    create.add_argument(
        "--scopes",
        default=",".join(ALL_SCOPES),
        help="comma-separated; default: all (" + ",".join(ALL_SCOPES) + ")",
    )
    create.set_defaults(func=_keys_create)
    listing = keys_sub.add_parser("list", help="list an account's active keys")
    listing.add_argument("--email", required=True)
    listing.set_defaults(func=_keys_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key: it fails from the next request on")
    revoke.add_argument("key_id", metavar="ID")
    revoke.set_defaults(func=_keys_revoke)
    return parser


def _check_model(settings: Settings) -> None:
    """The model's settings, before anything is printed or started (not when the worker first
    opens the model, after the banner): SettingsError names the variable."""
    from pyexec.worker.agent.factory import llm_model_name

    if settings.llm_configured:
        try:
            llm_model_name(settings)
        except SettingsError as exc:
            raise SettingsError(f"invalid configuration: {exc}") from None


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    from pyexec.serve import serve

    _check_model(settings)
    return serve(settings)


def _api(settings: Settings, _args: argparse.Namespace) -> int:
    from pyexec.scaled import api

    return api(settings)


def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    from pyexec.scaled import worker

    _check_model(settings)
    return worker(settings)


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from pyexec.core.migrate import current_revision, upgrade

    upgrade(settings.db_url)
    print(f"database is at the latest schema ({current_revision(settings.db_url)})")
    return 0


def _admin(settings: Settings, action: Coroutine[Any, Any, T]) -> T:
    from pyexec.core.migrate import upgrade

    upgrade(settings.db_url)
    return asyncio.run(action)


def _accounts_create(settings: Settings, args: argparse.Namespace) -> int:
    from pyexec.admin import create_account

    account = _admin(settings, create_account(settings, args.email, args.plan))
    print(f"created account {account.id} ({account.email}, plan {account.plan})")
    return 0


def _accounts_set_plan(settings: Settings, args: argparse.Namespace) -> int:
    from pyexec.admin import set_plan

    account = _admin(settings, set_plan(settings, args.email, args.plan))
    print(f"account {account.email} is now on the {account.plan} plan")
    return 0


def _keys_create(settings: Settings, args: argparse.Namespace) -> int:
    from pyexec.admin import create_key_for
    from pyexec.core.accounts import validate_scopes

    scopes = validate_scopes(s.strip() for s in args.scopes.split(",") if s.strip())
    if not scopes:
        raise AdminInputError("--scopes needs at least one scope")
    account, key, plaintext = _admin(
        settings, create_key_for(settings, args.email, args.plan, args.name, scopes)
    )
    if args.plan is not None and account.plan != args.plan:
        print(
            f"note: {account.email} already exists on the {account.plan} plan; --plan was "
            "ignored (use 'pyexec accounts set-plan')",
            file=sys.stderr,
        )
    print(
        f"created key {key.id} ({key.name}, prefix {key.prefix}, scopes {','.join(key.scopes)}) "
        f"for {account.email} on the {account.plan} plan"
    )
    print(plaintext)
    return 0


def _keys_list(settings: Settings, args: argparse.Namespace) -> int:
    from pyexec.admin import list_keys

    account, keys = _admin(settings, list_keys(settings, args.email))
    print(f"{account.email} ({account.plan} plan): {len(keys)} active key(s)")
    rows = [("ID", "NAME", "PREFIX", "SCOPES", "CREATED", "LAST USED")]
    rows += [
        (
            k.id,
            k.name,
            k.prefix,
            ",".join(k.scopes or []),
            _when(k.created_at),
            _when(k.last_used_at) if k.last_used_at else "never",
        )
        for k in keys
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from pyexec.admin import revoke_key

    _admin(settings, revoke_key(settings, args.key_id))
    print(f"revoked key {args.key_id}")
    return 0


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ")


if __name__ == "__main__":
    raise SystemExit(main())
