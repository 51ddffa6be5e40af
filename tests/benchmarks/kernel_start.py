"""(d, e) time to a ready kernel with pandas imported, and (h-k) memory per idle kernel.

Both backends with the service's default sandbox (its own uid, namespaces, limits, as far as
the host allows). "Ready" is what the pool waits for before a kernel counts as warm:
launched, answering kernel_info with IOPub connected, and the warm-up (pandas, numpy,
matplotlib inline) done. The pool is bypassed, so each sample is one start with none ahead.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from pyexec.kernels import (
    WARMUP_CODE,
    ForkServerLauncher,
    Kernel,
    KernelLauncher,
    KernelPool,
    LocalLauncher,
    SandboxPolicy,
    build_kernel_env,
)
from pyexec.kernels.pool import _make_work_dir
from tests.benchmarks.cpu import CpuMeter
from tests.benchmarks.results import Cost, Samples

__all__ = ["measure_idle_memory", "measure_kernel_ready"]

READY_TIMEOUT_SECONDS = 120.0
WARMUP_STARTS = 2
IDLE_KERNELS = 4
MB = 1024 * 1024


def make_launcher(backend: str, data_dir: Path) -> KernelLauncher:
    policy = SandboxPolicy(hidden=(data_dir,))
    if backend == "forkserver":
        return ForkServerLauncher(sandbox=policy)
    return LocalLauncher(sandbox=policy)


async def _ready_kernel(launcher: KernelLauncher, work_root: Path) -> Kernel:
    kernel_id = uuid.uuid4().hex
    work_dir = work_root / kernel_id
    _make_work_dir(work_dir)
    launched = await launcher.launch(kernel_id, work_dir, build_kernel_env(work_dir))
    kernel = Kernel(launched, work_dir)
    await kernel.connect(READY_TIMEOUT_SECONDS)
    if not launched.warm:
        warm = await kernel.execute(WARMUP_CODE, timeout=None, silent=True, store_history=False)
        if warm.status != "ok":
            raise RuntimeError(f"warm-up failed: {warm.error}")
    return kernel


async def measure_kernel_ready(runs: int, backend: str) -> Samples:
    with tempfile.TemporaryDirectory(prefix="pyexec-bench-") as tmp:
        data = Path(tmp, "data")
        (data / "work").mkdir(parents=True)
        launcher = make_launcher(backend, data)
        # This process is the launcher; below it, the zygote (or the cold start's processes).
        meter = CpuMeter()
        try:
            values: list[float] = []
            for i in range(WARMUP_STARTS + runs):
                # The first starts also start the zygote (or fill disk caches): not counted.
                counted = i >= WARMUP_STARTS
                if counted:
                    meter.start()
                start = time.perf_counter()
                kernel = await _ready_kernel(launcher, data / "work")
                elapsed = time.perf_counter() - start
                if counted:
                    meter.stop()
                    values.append(elapsed)
                await kernel.shutdown()
                shutil.rmtree(kernel.work_dir, ignore_errors=True)
        finally:
            await launcher.close()
    level = launcher.isolation.level if launcher.isolation else "?"
    cost = Cost({"kernel": meter.below / runs, "launcher": meter.own / runs}, per="start")
    return Samples(values, note=f"isolation {level}, pool bypassed", cost=cost)


def _rollup(pid: int) -> dict[str, int]:
    """USS (Private_*) and PSS in bytes, from /proc/PID/smaps_rollup."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return {
        "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
        "pss": fields.get("Pss", 0),
    }


async def measure_idle_memory(backend: str, kernels: int = IDLE_KERNELS) -> dict[str, Samples]:
    """USS and PSS of each idle kernel of a warm pool of `kernels` (after a first job ran
    in one of them, so the pool is in its steady state)."""
    with tempfile.TemporaryDirectory(prefix="pyexec-bench-") as tmp:
        data = Path(tmp, "data")
        pool = KernelPool(
            size=kernels, launcher=make_launcher(backend, data), work_root=data / "work"
        )
        async with pool:
            async with pool.lease() as kernel:
                await kernel.execute("import pandas as pd\npd.DataFrame({'a': [1]})", timeout=60)
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS * 2
            while pool.stats["idle"] < kernels:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"pool never had {kernels} idle kernels: {pool.stats}")
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # let start-up work (threads, first allocations) settle
            pids = [k.launched.pid for k in list(pool._idle)]  # type: ignore[attr-defined]
            if backend == "local":
                pids = [_kernel_below(pid) for pid in pids]
            rollups = [_rollup(pid) for pid in pids]
    note = f"{kernels} idle kernels"
    return {
        key: Samples([r[key] / MB for r in rollups], unit="MB", note=note) for key in ("uss", "pss")
    }


def _kernel_below(pid: int) -> int:
    """The local backend's process may be bubblewrap's monitor: the kernel is its child."""
    import psutil

    process = psutil.Process(pid)
    while process.name() == "bwrap" and (children := process.children()):
        process = children[0]
    return process.pid
