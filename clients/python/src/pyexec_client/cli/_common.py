"""What every client command shares: the client from the options, exit codes, JSON output, and
text from a job made safe for a terminal."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyexec_client._client import PyExec

if TYPE_CHECKING:
    from rich.console import Console

# Exit codes (the README lists them): scripts can tell a failed job from a refused request.
OK = 0
JOB_FAILED = 1  # the command worked; the job ended failed or cancelled
USAGE = 2  # bad arguments, no API key, a local file missing, JupyterLab not installed
API_ERROR = 3  # the API answered with an error
UNREACHABLE = 4  # the server could not be reached
INTERRUPTED = 130

PIPE_WIDTH = 160

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A command line that cannot run as given (exit code 2), said in one line."""


# CSI and OSC sequences, and every other control character but newline and tab: text from a
# job must not move the cursor, retitle the window or write the clipboard (OSC 52).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(text: str) -> str:
    """`text` without terminal escape sequences or control characters (newlines, tabs kept;
    a carriage return becomes a newline)."""
    text = _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--base-url", metavar="URL", help="the PyExec server (default: $PYEXEC_BASE_URL, login)"
    )
    group.add_argument(
        "--api-key", metavar="KEY", help="default: $PYEXEC_API_KEY, then the stored login"
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the API's JSON on stdout, for scripts"
    )


def client_from(args: argparse.Namespace) -> PyExec:
    return PyExec(api_key=args.api_key, base_url=args.base_url)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def stdout_console() -> Console:
    from rich.console import Console

    # Piped into another program, lines are not cut at 80 columns.
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else PIPE_WIDTH
    return Console(highlight=False, width=width)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)
