"""The `pyexec` command: submit jobs, follow them, download and open their notebooks.

It belongs to the client distribution. Other installed distributions add commands through the
entry point group `pyexec.commands` (the PyExec server adds its operator commands: serve, api,
worker, migrate, accounts): each entry point is a function that takes the subcommands object
and adds parsers that set the default `pyexec_run` to a function of the parsed arguments that
returns the exit code. They are loaded only when the command line is not one of the client's,
so the client's commands never pay for importing the server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from pyexec_client._version import __version__

PLUGIN_GROUP = "pyexec.commands"
CLIENT_COMMANDS = frozenset(
    {"submit", "jobs", "files", "keys", "account", "open", "login", "logout"}
)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passed_on: list[str] = []
    if argv[:1] == ["open"] and "--" in argv:  # `pyexec open JOB -- <jupyter lab's options>`
        cut = argv.index("--")
        argv, passed_on = argv[:cut], argv[cut + 1 :]
    parser = build_parser(with_plugins=not argv or argv[0] not in {*CLIENT_COMMANDS, "--version"})
    args = parser.parse_args(argv)
    if passed_on:
        args.jupyter_args = passed_on
    run = getattr(args, "pyexec_run", None)
    if run is None:
        parser.print_help()
        return 2
    if getattr(args, "pyexec_client_command", False):
        return _run_client_command(run, args)
    return int(run(args) or 0)


def build_parser(*, with_plugins: bool = True) -> argparse.ArgumentParser:
    from pyexec_client.cli import _account, _files_keys, _jobs, _login, _open

    parser = argparse.ArgumentParser(
        prog="pyexec",
        description="PyExec: run data-analysis jobs (a prompt, code, files) in fresh Jupyter "
        "kernels and get their results and notebooks.",
        epilog="Connection: --base-url/--api-key, else PYEXEC_BASE_URL/PYEXEC_API_KEY, else "
        "what `pyexec login` stored. Exit codes: 0 done, 1 the job failed or was cancelled, "
        "2 bad usage or setup, 3 the API refused, 4 the server could not be reached.",
    )
    parser.add_argument("--version", action="version", version=f"pyexec-client {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (_jobs, _files_keys, _account, _open, _login):
        module.add_commands(sub)
    for choice in sub.choices.values():
        _mark_client_commands(choice)
    if with_plugins:
        _add_plugins(sub)
    return parser


def _mark_client_commands(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(pyexec_client_command=True)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _mark_client_commands(child)


def _add_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()(sub)
        except Exception as exc:  # a broken plugin must not take the client's commands down
            print(
                f"pyexec: commands from {entry.value} not available: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )


def _run_client_command(
    run: Callable[[argparse.Namespace], int | None], args: argparse.Namespace
) -> int:
    from pyexec_client._errors import (
        APIConnectionError,
        APIStatusError,
        ConfigurationError,
        JobFailedError,
    )
    from pyexec_client.cli._common import (
        API_ERROR,
        INTERRUPTED,
        JOB_FAILED,
        UNREACHABLE,
        USAGE,
        UsageError,
        safe_text,
    )

    def fail(message: str, code: int) -> int:
        print(f"pyexec: {safe_text(message)}", file=sys.stderr)
        return code

    try:
        return int(run(args) or 0)
    except (UsageError, ConfigurationError) as exc:
        return fail(str(exc), USAGE)
    except (FileNotFoundError, IsADirectoryError, PermissionError, ValueError) as exc:
        return fail(str(exc), USAGE)
    except APIStatusError as exc:
        lines = [str(exc)]
        lines += [f"  {d.get('field', '?')}: {d.get('problem', '')}" for d in exc.details]
        return fail("\n".join(lines), API_ERROR)
    except APIConnectionError as exc:
        return fail(f"cannot reach {_base_url(args)}: {exc}", UNREACHABLE)
    except JobFailedError as exc:
        return fail(str(exc), JOB_FAILED)
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return INTERRUPTED


def _base_url(args: argparse.Namespace) -> str:
    from pyexec_client._config import resolve

    try:
        return resolve(getattr(args, "api_key", None), getattr(args, "base_url", None)).base_url
    except Exception:
        return "the server"
