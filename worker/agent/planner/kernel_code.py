"""The planner's kernel-side code, read from the modules in `kernel/`."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

_MARKER = "# --- cell ---\n"
PROFILE_MIME = "application/vnd.pyexec.profile+json"  # the same as in kernel/profile.py


@cache
def _module(name: str) -> tuple[str, str]:
    """(definitions, cell part) of kernel/<name>.py, without the module's docstring."""
    text = files("pyexec.worker.agent.planner.kernel").joinpath(f"{name}.py").read_text("utf-8")
    head, _, cell = text.partition(_MARKER)
    return head, cell


def footer() -> str:
    return _module("footer")[1].rstrip("\n")


def profile_cell(variables: list[str]) -> str:
    """The profile cell's source for the tables bound to `variables`."""
    head, cell = _module("profile")
    body = head.split('"""', 2)[2].lstrip("\n")  # drop the docstring: the cell says it once
    tables = "{" + ", ".join(f'"{v}": {v}' for v in variables) + "}"
    return (
        "# The planner looks at the values of each column before it reads the request.\n"
        + body
        + "\n"
        + cell.replace("TABLES", tables)
    )
