"""(b) PyExec end to end over HTTP: the real `pyexec serve` in a temporary data dir."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx
import psutil

from tests.benchmarks.cpu import CpuMeter
from tests.benchmarks.results import Cost, Samples

__all__ = [
    "PyExecServer",
    "find_pyexec",
    "measure_pyexec_http",
    "pool_counts",
    "pool_refilled",
    "pyexec_server",
    "run_code_job",
]

SERVER_READY_TIMEOUT_SECONDS = 120.0
SERVER_STOP_TIMEOUT_SECONDS = 10.0
CHILD_EXIT_GRACE_SECONDS = 3.0  # for kernels to notice their parent is gone
KEY_CREATE_TIMEOUT_SECONDS = 60.0
HTTP_TIMEOUT_SECONDS = 30.0
JOB_WAIT_SECONDS = 10  # the `?wait=` each GET holds for; must stay under HTTP_TIMEOUT_SECONDS
JOB_TIMEOUT_SECONDS = 60.0
POOL_SIZE = 2
WARMUP_JOBS = 5
FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
# A pool is refilled when its process's /metrics shows it full and quiet on this many scrapes
# in a row, this far apart (the last job's kernel is disposed of in the background meanwhile).
REFILLED_SCRAPES = 2
REFILL_POLL_SECONDS = 0.02
REFILL_TIMEOUT_SECONDS = 60.0
_POOL_GAUGE = re.compile(r'^pyexec_kernel_pool_kernels\{state="(\w+)"\} ([0-9.e+]+)$', re.M)


@dataclass(frozen=True)
class PyExecServer:
    base_url: str
    api_key: str
    data_dir: Path
    log_path: Path
    pid: int

    def cpu_meter(self) -> CpuMeter:
        """The server's CPU (its own threads) and its kernels' (every process below it)."""
        return CpuMeter(self.pid)


def find_pyexec() -> list[str]:
    """The server's `pyexec-server` command beside this interpreter (the venv's), on PATH, or
    `python -m pyexec` (`pyexec` alone is the client SDK's CLI)."""
    beside = Path(sys.executable).with_name("pyexec-server")
    if beside.exists():
        return [str(beside)]
    if found := shutil.which("pyexec-server"):
        return [found]
    # Not installed yet: run it from the source tree.
    if importlib.util.find_spec("pyexec") is not None:
        return [sys.executable, "-m", "pyexec"]
    raise FileNotFoundError("no `pyexec` command: install the project (pip install -e .)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def _wait_ready(proc: asyncio.subprocess.Process, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_READY_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(
                    f"pyexec serve exited with {proc.returncode}:\n{_log_tail(log_path)}"
                )
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise TimeoutError(
        f"pyexec serve not ready after {SERVER_READY_TIMEOUT_SECONDS:.0f} s:\n{_log_tail(log_path)}"
    )


async def _create_key(pyexec: Sequence[str], env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        *pyexec, "keys", "create", "--email", "bench@example.com", "--plan", "business",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), KEY_CREATE_TIMEOUT_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    lines = [line.strip() for line in out.decode().splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"pyexec keys create failed ({proc.returncode}): {err.decode()}")
    return lines[-1]  # the contract: the key is the last line of stdout


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


async def _stop(proc: asyncio.subprocess.Process) -> None:
    # Kernels run in sessions of their own, so they are found by ancestry, not process group.
    children = _descendants(proc.pid)
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), SERVER_STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            print(f"pyexec serve ignored SIGTERM for {SERVER_STOP_TIMEOUT_SECONDS:.0f} s: SIGKILL")
            proc.kill()
            await proc.wait()
    _, alive = await asyncio.to_thread(psutil.wait_procs, children, CHILD_EXIT_GRACE_SECONDS)
    if alive:
        # Worth a line in the report: the service should shut its kernels down itself.
        print(f"warning: killed processes that outlived pyexec serve: {[p.pid for p in alive]}")
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()


def _prepare_data_dir(tmp: Path) -> Path:
    data_dir = tmp / "data"
    data_dir.mkdir()
    return data_dir


def _open_log(path: Path) -> BinaryIO:
    return path.open("wb")


@contextlib.asynccontextmanager
async def pyexec_server(
    pyexec: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> AsyncIterator[PyExecServer]:
    """`pyexec serve` on a free loopback port with a fresh data dir and a business key.

    `pyexec` is the command to run (default: the installed one); tests pass a stand-in.
    `env` adds settings (e.g. PYEXEC_KERNEL_BACKEND) to the server's environment.
    """
    pyexec = pyexec or find_pyexec()
    with tempfile.TemporaryDirectory(prefix="pyexec-bench-") as tmp:
        data_dir, log_path, port = _prepare_data_dir(Path(tmp)), Path(tmp, "log"), _free_port()
        env = {
            **os.environ,
            "PYEXEC_DATA_DIR": str(data_dir),
            "PYEXEC_HOST": "127.0.0.1",
            "PYEXEC_PORT": str(port),
            "PYEXEC_KERNEL_POOL_SIZE": str(POOL_SIZE),
            **(env or {}),
        }
        base_url = f"http://127.0.0.1:{port}"
        with _open_log(log_path) as log:
            # Output to a file, not a pipe nobody drains, so the server never blocks on it.
            proc = await asyncio.create_subprocess_exec(
                *pyexec, "serve", env=env, stdout=log, stderr=log
            )
        try:
            await _wait_ready(proc, base_url, log_path)
            # After readiness, so that the CLI and the server never migrate the database at once.
            key = await _create_key(pyexec, env)
            yield PyExecServer(base_url, key, data_dir, log_path, proc.pid)
        finally:
            await _stop(proc)


async def run_code_job(client: httpx.AsyncClient, code: str) -> dict[str, object]:
    """Submit `code` as a job and hold GETs with `?wait=` until it is final; the final job."""
    response = await client.post("/v1/jobs", json={"code": code})
    if response.status_code != 201:
        raise RuntimeError(f"POST /v1/jobs: {response.status_code} {response.text}")
    job = response.json()
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while job["status"] not in FINAL_STATUSES:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"job {job['id']} still {job['status']} after {JOB_TIMEOUT_SECONDS} s"
            )
        response = await client.get(f"/v1/jobs/{job['id']}", params={"wait": JOB_WAIT_SECONDS})
        response.raise_for_status()
        job = response.json()
    if job["status"] != "completed":
        raise RuntimeError(f"job {job['id']} ended {job['status']}: {job.get('error_message')}")
    return dict(job)


def pool_counts(exposition: str) -> dict[str, int]:
    """The kernel pool's gauge (`pyexec_kernel_pool_kernels`) by state, from a /metrics body."""
    return {state: int(float(value)) for state, value in _POOL_GAUGE.findall(exposition)}


async def pool_refilled(client: httpx.AsyncClient, metrics_url: str) -> None:
    """Until the pool of the process serving `metrics_url` holds POOL_SIZE warm kernels, none
    starting or leased, on REFILLED_SCRAPES scrapes in a row: the "warm pool" of rows b and l.
    (Back to back, each job would share the cores with the last one's refill: row f.)"""
    deadline = time.monotonic() + REFILL_TIMEOUT_SECONDS
    quiet = 0
    while quiet < REFILLED_SCRAPES:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pool did not refill within {REFILL_TIMEOUT_SECONDS:.0f} s")
        response = await client.get(f"{metrics_url}/metrics")
        response.raise_for_status()
        counts = pool_counts(response.text)
        full = counts.get("idle") == POOL_SIZE and not counts.get("starting")
        quiet = quiet + 1 if full and not counts.get("leased") else 0
        await asyncio.sleep(REFILL_POLL_SECONDS)


async def measure_pyexec_http(runs: int, pyexec: Sequence[str] | None = None) -> Samples:
    async with pyexec_server(pyexec) as server:
        headers = {"Authorization": f"Bearer {server.api_key}"}
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
        ) as client:
            for _ in range(WARMUP_JOBS):
                await run_code_job(client, "1+1")
            values: list[float] = []
            meter = server.cpu_meter()
            for _ in range(runs):
                await pool_refilled(client, server.base_url)
                meter.start()
                start = time.perf_counter()
                await run_code_job(client, "1+1")
                values.append(time.perf_counter() - start)
                meter.stop()
    # The job's alone: the refill that follows it runs while the next job waits for it.
    cost = Cost({"service": meter.own / runs, "its kernel": meter.below / runs})
    return Samples(values, note=f"pool of {POOL_SIZE} refilled before each job", cost=cost)
