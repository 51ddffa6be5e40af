"""`pyexec account`: the calling key's account, its plan's limits and where it stands today."""

from __future__ import annotations

import argparse

from pyexec_client.cli._common import (
    OK,
    add_connection_options,
    add_json_option,
    client_from,
    print_json,
    stdout_console,
)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    account = sub.add_parser(
        "account",
        help="your account: its plan, limits and usage today",
        description="The account of your API key: its plan, what the plan allows, the requests "
        "made this UTC day (this one counted) and the storage used. Any key may read it. "
        "(Operators manage every account on the server with `pyexec accounts`.)",
    )
    add_json_option(account)
    add_connection_options(account)
    account.set_defaults(pyexec_run=_show)


def _show(args: argparse.Namespace) -> int:
    account = client_from(args).account.get()
    if args.json:
        print_json(account.to_dict())
        return OK
    from pyexec_client.cli._render import account_table

    stdout_console().print(account_table(account))
    return OK
