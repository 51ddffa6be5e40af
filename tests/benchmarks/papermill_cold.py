"""(c) The status quo PyExec replaces: papermill runs a one-cell notebook, new kernel each run."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import nbformat
import papermill
from nbformat.v4 import new_code_cell, new_notebook

from tests.benchmarks.raw_kernel import QUIET_KERNEL_ARGS
from tests.benchmarks.results import Samples

__all__ = ["measure_papermill"]

KERNEL_START_TIMEOUT_SECONDS = 60


def _one_cell_notebook(path: Path) -> None:
    nb = new_notebook(
        cells=[new_code_cell("1+1")],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, path)


def _run_once(source: Path, target: Path) -> float:
    start = time.perf_counter()
    papermill.execute_notebook(
        str(source),
        str(target),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
        start_timeout=KERNEL_START_TIMEOUT_SECONDS,
        extra_arguments=QUIET_KERNEL_ARGS,
    )
    return time.perf_counter() - start


async def measure_papermill(runs: int) -> Samples:
    with tempfile.TemporaryDirectory(prefix="pyexec-bench-papermill-") as tmp:
        source, target = Path(tmp, "in.ipynb"), Path(tmp, "out.ipynb")
        _one_cell_notebook(source)
        # papermill blocks (it drives its own event loop), so each run goes to a thread.
        await asyncio.to_thread(_run_once, source, target)  # warm-up: imports, disk cache
        values = [await asyncio.to_thread(_run_once, source, target) for _ in range(runs)]
    return Samples(values, note="fresh kernel per run")
