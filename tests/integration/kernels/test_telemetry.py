"""The kernels package reports kernel starts, fork-server restarts and gateway errors through
`kernels.telemetry`; with the worker's listener installed they land in the metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from pyexec.core import metrics
from pyexec.kernels import ForkServerLauncher, KernelPool, telemetry
from pyexec.kernels.gateway import GatewayAPI, GatewayUnreachableError
from tests.support.processes import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _count(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels)
    return value or 0.0


@pytest.fixture(scope="module", autouse=True)
def listening() -> Iterator[None]:
    telemetry.listen(metrics.KernelMetrics())
    try:
        yield
    finally:
        telemetry.listen(telemetry.Silent())


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fork_pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KernelPool]:
    pool = KernelPool(size=1, launcher=ForkServerLauncher(), work_root=tmp_path_factory.mktemp("w"))
    await pool.start()
    await pool.wait_ready(timeout=120)
    yield pool
    await pool.close()


async def test_kernel_starts_and_zygote_restarts_are_reported(fork_pool: KernelPool) -> None:
    started = _count("pyexec_kernel_start_seconds_count", backend="forkserver")
    assert started >= 1  # the pool's first kernel
    restarts = _count("pyexec_forkserver_restarts_total")
    launcher = fork_pool.launcher
    assert isinstance(launcher, ForkServerLauncher) and launcher.zygote_pid is not None
    async with fork_pool.lease() as kernel:
        running = asyncio.create_task(kernel.execute("import time\ntime.sleep(60)", timeout=60))
        await asyncio.sleep(0.3)
        os.kill(launcher.zygote_pid, signal.SIGKILL)
        assert (await asyncio.wait_for(running, timeout=30)).status == "died"
    await eventually(lambda: _count("pyexec_forkserver_restarts_total") == restarts + 1)
    # The pool refills from a new zygote: more starts, each timed.
    await fork_pool.wait_ready(timeout=120)
    assert _count("pyexec_kernel_start_seconds_count", backend="forkserver") > started


async def test_an_unreachable_gateway_is_counted_by_kind() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = _count("pyexec_gateway_errors_total", kind="unreachable")
    api = GatewayAPI(f"http://127.0.0.1:{port}", request_timeout=10)
    try:
        with pytest.raises(GatewayUnreachableError):
            await api.info()
    finally:
        await api.close()
    assert _count("pyexec_gateway_errors_total", kind="unreachable") == before + 1
