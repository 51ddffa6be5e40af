"""The source of the kernel-side modules in `pyexec.worker.kernel`, read as text."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def kernel_source(name: str) -> str:
    """The text of `pyexec/worker/kernel/<name>.py`, for a kernel to run."""
    return files("pyexec.worker.kernel").joinpath(f"{name}.py").read_text("utf-8")


def prepare_code() -> str:
    """What every job kernel runs silently while it waits in the pool: the tables' formatter
    (kernel/tables.py) and the Excel readers (kernel/excel.py)."""
    return kernel_source("tables") + kernel_source("excel")
