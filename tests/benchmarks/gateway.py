"""(p-r) Kernels on Jupyter Enterprise Gateway: its floor, a job through it, a kernel's start.

All against a local gateway with PyExec's `pyexec-gateway-local` kernelspec (kernels are local
processes): the gateway's own costs, without a cluster's (pod scheduling, image pulls).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from pyexec.kernels import WARMUP_CODE, Kernel, build_kernel_env
from pyexec.kernels.gateway import GatewayLauncher
from pyexec.kernels.gateway.kernelspec import LOCAL_KERNELSPEC
from pyexec.kernels.gateway.launcher import is_tagged, worker_tag
from pyexec.kernels.pool import _make_work_dir
from tests.benchmarks.pyexec_service import (
    HTTP_TIMEOUT_SECONDS,
    POOL_SIZE,
    WARMUP_JOBS,
    pyexec_server,
    run_code_job,
)
from tests.benchmarks.results import Samples
from tests.support.services import EnterpriseGateway

__all__ = ["measure_gateway_execute", "measure_gateway_job", "measure_gateway_kernel_ready"]

READY_TIMEOUT_SECONDS = 120.0
# Idle this long on the gateway, a pooled kernel has finished its warm-up and preparation.
REFILLED_CALM_SECONDS = 1.0
WARMUP_RUNS = 5
WARMUP_STARTS = 1


def _launcher(gateway: EnterpriseGateway) -> GatewayLauncher:
    return GatewayLauncher(
        gateway.url,
        token=gateway.token,
        kernel_name=LOCAL_KERNELSPEC,
        worker_id=f"bench-{uuid.uuid4().hex[:8]}",
        launch_timeout=READY_TIMEOUT_SECONDS,
    )


async def _ready_kernel(launcher: GatewayLauncher, work_root: Path) -> Kernel:
    """Launched, answering with IOPub connected, warm-up done: what the pool waits for."""
    kernel_id = uuid.uuid4().hex
    work_dir = work_root / kernel_id
    _make_work_dir(work_dir)
    launched = await launcher.launch(kernel_id, work_dir, build_kernel_env(work_dir))
    kernel = Kernel(launched, work_dir)
    await kernel.connect(READY_TIMEOUT_SECONDS)
    warm = await kernel.execute(WARMUP_CODE, timeout=None, silent=True, store_history=False)
    if warm.status != "ok":
        raise RuntimeError(f"warm-up failed: {warm.error}")
    return kernel


async def measure_gateway_execute(runs: int, gateway: EnterpriseGateway) -> Samples:
    """`1+1` on a warm kernel through the gateway's websocket: the backend's floor."""
    launcher = _launcher(gateway)
    with tempfile.TemporaryDirectory(prefix="pyexec-bench-gw-") as tmp:
        try:
            kernel = await _ready_kernel(launcher, Path(tmp))
            try:
                for _ in range(WARMUP_RUNS):
                    await kernel.execute("1+1", timeout=30)
                values: list[float] = []
                for _ in range(runs):
                    start = time.perf_counter()
                    ex = await kernel.execute("1+1", timeout=30)
                    values.append(time.perf_counter() - start)
                    if ex.status != "ok":
                        raise RuntimeError(f"1+1 failed through the gateway: {ex.error}")
            finally:
                await kernel.shutdown()
        finally:
            await launcher.close()
    return Samples(values, note="Kernel.execute over the gateway's websocket")


async def measure_gateway_kernel_ready(runs: int, gateway: EnterpriseGateway) -> Samples:
    """From POST /api/kernels to a warm kernel (pandas, numpy, matplotlib imported)."""
    launcher = _launcher(gateway)
    values: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pyexec-bench-gw-") as tmp:
        try:
            for i in range(WARMUP_STARTS + runs):
                start = time.perf_counter()
                kernel = await _ready_kernel(launcher, Path(tmp))
                elapsed = time.perf_counter() - start
                await kernel.shutdown()
                shutil.rmtree(kernel.work_dir, ignore_errors=True)
                if i >= WARMUP_STARTS:  # the first also warms the disk caches
                    values.append(elapsed)
        finally:
            await launcher.close()
    return Samples(values, note="local gateway kernels, pool bypassed")


async def measure_gateway_job(runs: int, gateway: EnterpriseGateway) -> Samples:
    """A trivial job end to end, `pyexec serve` with PYEXEC_KERNEL_BACKEND=gateway, each
    submitted once the pool has its warm kernels again (back to back, jobs would wait for
    kernel starts: row r over the pool size)."""
    worker_id = f"bench-{uuid.uuid4().hex[:8]}"
    async with pyexec_server(env=gateway.pyexec_env(worker_id)) as server:
        headers = {"Authorization": f"Bearer {server.api_key}"}
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
        ) as client:
            values: list[float] = []
            for i in range(WARMUP_JOBS + runs):
                await _pool_refilled(gateway, worker_tag(worker_id))
                start = time.perf_counter()
                await run_code_job(client, "1+1")
                if i >= WARMUP_JOBS:
                    values.append(time.perf_counter() - start)
    return Samples(values, note=f"pool of {POOL_SIZE} refilled before each job")


async def _pool_refilled(gateway: EnterpriseGateway, tag: str) -> None:
    """The worker's kernels on the gateway: POOL_SIZE of them, idle for a while (their warm-up
    and preparation done), and no other (the last job's kernel deleted)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    calm_since: float | None = None
    while True:
        ours = [k for k in await asyncio.to_thread(gateway.kernels) if is_tagged(k["id"], tag)]
        settled = len(ours) == POOL_SIZE and all(k["execution_state"] == "idle" for k in ours)
        now = time.monotonic()
        calm_since = (calm_since or now) if settled else None
        if calm_since is not None and now - calm_since >= REFILLED_CALM_SECONDS:
            return
        if now > deadline:
            raise TimeoutError(f"the pool did not refill within {READY_TIMEOUT_SECONDS:.0f} s")
        await asyncio.sleep(0.1)
