"""(p) `import pyexec_client` in a fresh interpreter of a venv that holds the client alone
(`pip install ./clients/python`): what a program that uses the SDK pays before its first call."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.benchmarks.results import Samples

__all__ = ["measure_client_import"]

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import time; t = time.perf_counter(); import pyexec_client; print(time.perf_counter() - t)"
INSTALL_TIMEOUT_SECONDS = 600


def _measure(runs: int) -> Samples:
    with tempfile.TemporaryDirectory(prefix="pyexec-client-bench-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        # From a copy: pip builds in the source tree and would leave build/ in the checkout.
        source = shutil.copytree(
            ROOT / "clients/python",
            Path(tmp) / "source",
            ignore=shutil.ignore_patterns("build", "*.egg-info"),
        )
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", str(source)],
            check=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
        subprocess.run([python, "-c", "import pyexec_client"], check=True, cwd=tmp)  # .pyc
        values = [
            float(subprocess.check_output([python, "-c", PROBE], cwd=tmp)) for _ in range(runs)
        ]
    return Samples(values, note="fresh venv with the client alone")


async def measure_client_import(runs: int) -> Samples:
    return await asyncio.to_thread(_measure, runs)
