"""`pyexec login` and `pyexec logout`: the base URL and key kept in the user's config dir."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys

from pyexec_client._client import PyExec
from pyexec_client._config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    Login,
    config_path,
    forget_login,
    normalize_base_url,
    read_login,
    write_login,
)
from pyexec_client._errors import PermissionDeniedError
from pyexec_client.cli._common import OK, UsageError, stderr_console


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    login = sub.add_parser(
        "login",
        help="store the server's URL and your API key (mode 0600)",
        description="Store the base URL and API key in your config directory, readable by you "
        f"only. {BASE_URL_ENV} and {API_KEY_ENV}, when set, win over what is stored. The key "
        "is read from a prompt (or a line on stdin) unless --api-key gives it.",
    )
    login.add_argument("--base-url", metavar="URL", help=f"default: {DEFAULT_BASE_URL}")
    login.add_argument("--api-key", metavar="KEY")
    login.add_argument(
        "--no-verify", action="store_true", help="store without checking the key with the server"
    )
    login.set_defaults(pyexec_run=_login)

    logout = sub.add_parser("logout", help="forget the stored URL and key")
    logout.set_defaults(pyexec_run=_logout)


def _login(args: argparse.Namespace) -> int:
    err = stderr_console()
    stored = read_login()
    base_url = normalize_base_url(args.base_url or _ask_url(stored.base_url or DEFAULT_BASE_URL))
    key = (args.api_key or _ask_key()).strip()
    if not key:
        raise UsageError("no API key given")
    if not args.no_verify:
        # One cheap authenticated request: a 401 or an unreachable server stores nothing.
        # A 403 is a valid key without jobs:read.
        with (
            PyExec(api_key=key, base_url=base_url, max_retries=1) as client,
            contextlib.suppress(PermissionDeniedError),
        ):
            client.jobs.list_page(limit=1)
    path = write_login(Login(base_url=base_url, api_key=key))
    err.print(f"logged in to {base_url}; stored in {path} (mode 0600)", markup=False)
    for name in (BASE_URL_ENV, API_KEY_ENV):
        if os.environ.get(name):
            err.print(f"note: {name} is set and wins over the stored login", markup=False)
    return OK


def _logout(args: argparse.Namespace) -> int:
    path = config_path()
    err = stderr_console()
    if forget_login():
        err.print(f"removed {path}", markup=False)
    else:
        err.print("not logged in", markup=False)
    return OK


def _ask_url(default: str) -> str:
    if not sys.stdin.isatty():
        return default
    answer = input(f"PyExec server URL [{default}]: ").strip()
    return answer or default


def _ask_key() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline()
    return getpass.getpass("API key (pyex_…, not shown): ")
