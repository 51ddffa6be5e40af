"""Jobs a test holds mid-run, to stop a PyExec process under them (SIGTERM) and see the drain.

A gated job's cell notes each run (a file per kernel pid), answers a poke while it runs (so
a test can tell its kernel is still alive after the signal), and ends only once the test
opens its gate. Kernels must run unsandboxed (`PYEXEC_KERNEL_SANDBOX=off`) to see the files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from tests.support.processes import gone


@dataclass
class Gate:
    root: Path

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def code(self) -> str:
        """The cell: runs until `open()`; prints `ran`."""
        return (
            "import os, pathlib, time\n"
            f"gate = pathlib.Path({str(self.root)!r})\n"
            "(gate / f'started-{os.getpid()}').touch()\n"
            "while not (gate / 'open').exists():\n"
            "    if (gate / 'poke').exists():\n"
            "        (gate / f'poked-{os.getpid()}').touch()\n"
            "    time.sleep(0.05)\n"
            "print('ran')\n"
        )

    def runs(self) -> list[int]:
        """The kernel pids that started the cell, one per run."""
        return [int(p.name.split("-", 1)[1]) for p in self.root.glob("started-*")]

    def wait_runs(self, n: int, timeout: float = 90) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(runs := self.runs()) < n:
            assert time.monotonic() < deadline, f"the cell ran {len(runs)} times, not {n}"
            time.sleep(0.05)
        return runs

    def poke_answered(self, kernel_pid: int, service: subprocess.Popen[bytes]) -> bool:
        """Poke the running cell: True once its kernel answers, False if the service exited
        (or nothing answered within a minute) first."""
        (self.root / "poke").touch()
        answer = self.root / f"poked-{kernel_pid}"
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                if answer.exists():
                    return True
                if service.poll() is not None:
                    return answer.exists()
                time.sleep(0.05)
            return False
        finally:
            (self.root / "poke").unlink()

    def open(self) -> None:
        (self.root / "open").touch()


def descendants(pid: int) -> list[int]:
    """The service's process tree below it (its zygote, kernels): learnt from the service's
    own pid, never by a name or pattern."""
    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def sigterm(proc: subprocess.Popen[bytes]) -> None:
    """What Kubernetes and systemd send: SIGTERM to the service's process only."""
    os.kill(proc.pid, signal.SIGTERM)


def exit_code(proc: subprocess.Popen[bytes], timeout: float = 120) -> int:
    return proc.wait(timeout=timeout)


def left_behind(pids: list[int], timeout: float = 30) -> list[int]:
    """Those of `pids` still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if not gone(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def kernel_work_dirs(data_dir: Path) -> list[Path]:
    """What pools left in the kernels' work root (nothing, after a clean stop)."""
    work = data_dir / "work"
    return sorted(work.iterdir()) if work.exists() else []


def readyz(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=10)


def wait_draining(url: str, service: subprocess.Popen[bytes], timeout: float = 60) -> dict:
    """/readyz's body once it says `draining` (503); fails if the service exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert service.poll() is None, f"exited ({service.returncode}) instead of draining"
        try:
            response = readyz(url)
        except httpx.HTTPError:
            time.sleep(0.05)
            continue  # a server that stopped listening: its exit fails the check above
        if response.status_code == 503 and response.json().get("reason") == "draining":
            return dict(response.json())
        time.sleep(0.05)
    raise AssertionError("/readyz never said draining")


def notebook_code_cells(notebook: dict) -> list[dict]:
    """The job's own code cells of a downloaded notebook (not PyExec's setup)."""
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def wait_logged(log: Callable[[], str], text: str, service: subprocess.Popen[bytes]) -> None:
    """Until the service's log says `text`; fails if the service exits first."""
    deadline = time.monotonic() + 60
    while text not in log():
        assert service.poll() is None, f"exited ({service.returncode}) before logging {text!r}"
        assert time.monotonic() < deadline, f"never logged {text!r}"
        time.sleep(0.05)
