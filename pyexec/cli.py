"""The `pyexec` command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pyexec.admin import AdminError
from pyexec.core import logs, tracing
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
    return run(args)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the operator commands to the client's `pyexec` command (entry point group
    `pyexec.commands`). Its own `keys` manages the caller's keys over the API, so the
    operator's key commands are `accounts keys` there; `pyexec-server keys` still works."""
    _add_commands(commands, operator_keys_at_top=False)


def run(args: argparse.Namespace) -> int:
    """Run a parsed command: settings, logging, and errors as one-line messages."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"pyexec: {exc}", file=sys.stderr)
        return 2
    # One handler for the whole process, uvicorn's loggers included (pyexec.http).
    logs.configure(settings.log_level, settings.log_format)
    if settings.log_level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # arq logs a line per job, and reads PyExec's back-dated queue scores (see
        # core.redis_queue) as years of delay; its warnings and errors still show.
        logging.getLogger("arq").setLevel(logging.WARNING)
    try:
        return int(args.func(settings, args) or 0)
    except SettingsError as exc:
        logs.announce(f"pyexec: {exc}", error=True)
        return 2
    except (AdminError, UnknownScopeError, AdminInputError) as exc:
        # An operator mistake, not a crash: say what it was, no traceback.
        print(f"pyexec: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyexec", description=__doc__)
    _add_commands(parser.add_subparsers(dest="command"), operator_keys_at_top=True)
    return parser


def _add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    operator_keys_at_top: bool,
) -> None:
    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, **kwargs)
        parser.set_defaults(pyexec_run=run)
        return parser

    serve = command("serve", help="run API, worker and kernel pool in one process")
    serve.set_defaults(func=_serve)

    api = command("api", help="scaled out: serve HTTP, enqueue jobs on Redis (REDIS_URL)")
    api.set_defaults(func=_api)

    worker = command(
        "worker", help="scaled out: run jobs from Redis (REDIS_URL) with this process's kernels"
    )
    worker.set_defaults(func=_worker)

    migrate = command("migrate", help="bring the database to the latest schema")
    migrate.set_defaults(func=_migrate)

    plans = ["free", "pro", "business"]
    accounts = command("accounts", help="manage accounts, their plans and their API keys")
    accounts_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    acc_create = accounts_sub.add_parser("create", help="create an account")
    acc_create.add_argument("--email", required=True)
    acc_create.add_argument("--plan", choices=plans, default="free")
    acc_create.add_argument(
        "--password-prompt",
        action="store_true",
        help="ask for a dashboard password (on a terminal; else read one line of stdin)",
    )
    acc_create.set_defaults(func=_accounts_create)
    set_password = accounts_sub.add_parser(
        "set-password",
        help="set an account's dashboard password (asked for, never an argument); "
        "signs it out of the dashboard everywhere",
    )
    set_password.add_argument("--email", required=True)
    set_password.set_defaults(func=_accounts_set_password)
    set_plan = accounts_sub.add_parser("set-plan", help="move an account to another plan")
    set_plan.add_argument("--email", required=True)
    set_plan.add_argument("--plan", choices=plans, required=True)
    set_plan.set_defaults(func=_accounts_set_plan)
    _add_key_commands(
        accounts_sub.add_parser("keys", help="manage any account's API keys (on the database)"),
        plans,
    )
    if operator_keys_at_top:
        _add_key_commands(command("keys", help="manage API keys"), plans)


def _add_key_commands(keys: argparse.ArgumentParser, plans: list[str]) -> None:
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


def _check_model(settings: Settings) -> None:
    """The model's settings, before anything is printed or started (not when the worker first
    opens the model, after the banner): SettingsError names the variable."""
    from pyexec.worker.agent.factory import llm_model_name

    if settings.llm_configured:
        try:
            llm_model_name(settings)
        except SettingsError as exc:
            raise SettingsError(f"invalid configuration: {exc}") from None


def _trace(settings: Settings, role: str) -> None:
    """Traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set (OpenTelemetry is imported only then)."""
    name = settings.otel_service_name or f"pyexec-{role}"
    tracing.configure(settings.otel_exporter_otlp_endpoint, name)


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    _trace(settings, "serve")
    from pyexec.serve import serve

    _check_model(settings)
    return serve(settings)


def _api(settings: Settings, _args: argparse.Namespace) -> int:
    _trace(settings, "api")
    from pyexec.scaled import api

    return api(settings)


def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    _trace(settings, "worker")
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


def _read_password() -> str:
    """A new password: asked twice on a terminal, else one line of stdin (for scripts). Never
    from the command line, where it would land in the shell's history and in `ps`."""
    if sys.stdin.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("The same password again: ") != password:
            raise AdminInputError("the two passwords differ; nothing was changed")
        return password
    line = sys.stdin.readline()
    if not line.strip():
        raise AdminInputError("no password given on standard input; nothing was changed")
    return line.rstrip("\r\n")


def _accounts_create(settings: Settings, args: argparse.Namespace) -> int:
    from pyexec.admin import create_account

    password = _read_password() if args.password_prompt else None
    account = _admin(settings, create_account(settings, args.email, args.plan, password))
    with_password = ", dashboard password set" if password is not None else ""
    print(f"created account {account.id} ({account.email}, plan {account.plan}{with_password})")
    return 0


def _accounts_set_password(settings: Settings, args: argparse.Namespace) -> int:
    from pyexec.admin import set_password

    password = _read_password()
    account, ended = _admin(settings, set_password(settings, args.email, password))
    signed_out = f"; {ended} dashboard session(s) signed out" if ended else ""
    print(f"password set for {account.email}{signed_out}")
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
