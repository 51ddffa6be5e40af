"""What goes wrong between a worker and its Enterprise Gateway, each on a gateway of its own:
a wrong token, a missing kernelspec, no gateway at all, the user limit, the gateway killed
mid-cell or restarted between jobs, a websocket dropped, idle kernels culled, and what a
crashed worker left behind."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyexec.kernels import KernelPool, KernelStartError
from pyexec.kernels.gateway import (
    GatewayAPI,
    GatewayAuthError,
    GatewayChannels,
    GatewayKernel,
    GatewayLauncher,
    KernelSpecNotFoundError,
)
from pyexec.kernels.gateway.launcher import new_gateway_kernel_id
from tests.integration.kernels.conftest import (
    GATEWAY_INTERRUPT_GRACE,
    gateway_kernels_of,
    gateway_launcher,
)
from tests.integration.kernels.tcp_proxy import TcpProxy
from tests.support.processes import eventually
from tests.support.servers import free_port
from tests.support.services import EnterpriseGateway

GatewayFactory = Callable[..., EnterpriseGateway]


@pytest.fixture
def own_gateway() -> Iterator[GatewayFactory]:
    """Start gateways of the test's own: `own_gateway(args=[...], env={...})`."""
    started: list[EnterpriseGateway] = []

    def start(**options: Any) -> EnterpriseGateway:
        eg = EnterpriseGateway(**options).start()
        started.append(eg)
        return eg

    yield start
    for eg in started:
        eg.cleanup()


def make_pool(launcher: GatewayLauncher, work_root: Path, size: int = 1) -> KernelPool:
    return KernelPool(
        size=size,
        launcher=launcher,
        work_root=work_root,
        start_timeout=60,
        interrupt_grace=GATEWAY_INTERRUPT_GRACE,
    )


def launched(kernel: object) -> GatewayKernel:
    handle = kernel.launched  # type: ignore[attr-defined]
    assert isinstance(handle, GatewayKernel)
    return handle


async def test_a_wrong_token_stops_the_pool_at_start(
    gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    pool = make_pool(gateway_launcher(gateway, token="not-the-token"), tmp_path)
    with pytest.raises(GatewayAuthError, match=r"refused the token \(401") as raised:
        await pool.start()
    assert "not-the-token" not in str(raised.value)
    await pool.close()


async def test_a_missing_kernelspec_is_named_with_those_there_are(
    gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    pool = make_pool(gateway_launcher(gateway, kernel_name="no-such-spec"), tmp_path)
    with pytest.raises(KernelSpecNotFoundError, match="no kernelspec 'no-such-spec'") as raised:
        await pool.start()
    assert "pyexec-gateway-local" in str(raised.value)
    await pool.close()


async def test_no_gateway_at_all_fails_leases_clearly_not_the_start(tmp_path: Path) -> None:
    launcher = GatewayLauncher(f"http://127.0.0.1:{free_port()}", worker_id="nobody")
    async with make_pool(launcher, tmp_path) as pool:
        with pytest.raises(KernelStartError, match="cannot reach the gateway at http://127"):
            async with pool.lease(timeout=60):
                pass
        assert not pool.ready


async def test_the_user_limit_fails_leases_clearly_until_a_kernel_is_free(
    own_gateway: GatewayFactory, tmp_path: Path
) -> None:
    eg = own_gateway(env={"EG_MAX_KERNELS_PER_USER": "1"})
    api = GatewayAPI(eg.url, eg.token)
    blocker = await api.start_kernel("pyexec-gateway-local", {"KERNEL_USERNAME": "pyexec"})
    try:
        async with make_pool(gateway_launcher(eg), tmp_path) as pool:
            with pytest.raises(KernelStartError, match="max kernels per user") as raised:
                async with pool.lease(timeout=60):
                    pass
            assert "limit has been set to 1" in str(raised.value)
            assert await api.delete_kernel(blocker.id)
            await pool.wait_ready(timeout=90)
            async with pool.lease() as kernel:
                assert (await kernel.execute("1 + 1", timeout=30)).status == "ok"
    finally:
        await api.delete_kernel(blocker.id)
        await api.close()
    assert eg.kernels() == []


async def test_the_gateway_killed_mid_cell_fails_the_cell_never_hangs(
    own_gateway: GatewayFactory, tmp_path: Path
) -> None:
    eg = own_gateway()
    async with make_pool(gateway_launcher(eg), tmp_path) as pool, pool.lease() as kernel:
        pids = eg.kernel_pids()
        assert pids
        task = asyncio.create_task(
            kernel.execute("print('started', flush=True)\nimport time\ntime.sleep(600)", 120)
        )
        await asyncio.sleep(1.0)
        t0 = time.monotonic()
        eg.kill()
        ex = await asyncio.wait_for(task, timeout=60)
        elapsed = time.monotonic() - t0
    assert ex.status == "died" and ex.error is not None
    assert ex.error.message.startswith("lost the gateway connection")
    assert ex.outputs[0]["text"] == "started\n"
    assert elapsed < 10
    # Its kernels notice that their parent is gone, and exit.
    await eventually(lambda: not eg.kernel_pids(), timeout=30)


async def test_a_dropped_websocket_is_reconnected_and_no_output_is_lost(
    gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    proxy = await TcpProxy(gateway.port).start()
    launcher = gateway_launcher(gateway, url=proxy.url)  # REST and websocket through the proxy
    try:
        async with make_pool(launcher, tmp_path) as pool, pool.lease() as kernel:
            code = "import time\nfor i in range(30):\n    print(i, flush=True)\n    time.sleep(0.1)"
            task = asyncio.create_task(kernel.execute(code, timeout=120))
            await asyncio.sleep(1.2)
            assert proxy.sever() >= 1
            ex = await asyncio.wait_for(task, timeout=60)
            channels = launched(kernel).client
            assert isinstance(channels, GatewayChannels)
            assert channels.reconnects == 1
            after = await kernel.execute("'still here'", timeout=30)
        assert ex.status == "ok", ex.error
        printed = "".join(o["text"] for o in ex.outputs if o["output_type"] == "stream")
        assert printed == "".join(f"{i}\n" for i in range(30))
        assert after.outputs[0]["data"]["text/plain"] == "'still here'"
    finally:
        await proxy.close()
    assert gateway_kernels_of(gateway, launcher) == []


async def test_a_restarted_gateway_gets_fresh_kernels_for_the_next_job(
    own_gateway: GatewayFactory, tmp_path: Path
) -> None:
    eg = own_gateway()
    async with make_pool(gateway_launcher(eg), tmp_path, size=2) as pool:
        await pool.wait_ready(timeout=90)
        async with pool.lease() as kernel:
            assert (await kernel.execute("1", timeout=30)).status == "ok"
        await eventually(lambda: pool.stats["idle"] == 2, timeout=60)
        before = {launched(k).gateway_id for k in pool._idle}
        eg.restart()
        async with pool.lease(timeout=90) as kernel:
            assert launched(kernel).gateway_id not in before
            ex = await kernel.execute("'fresh'", timeout=30)
            assert ex.outputs[0]["data"]["text/plain"] == "'fresh'"
    assert eg.kernels() == []


async def test_idle_kernels_the_gateway_culls_are_replaced_not_lent(
    own_gateway: GatewayFactory, tmp_path: Path
) -> None:
    eg = own_gateway(
        args=[
            # Above a kernel's start on a loaded machine: the gateway also culls kernels that
            # are still starting.
            "--MappingKernelManager.cull_idle_timeout=20",
            "--MappingKernelManager.cull_interval=1",
            "--MappingKernelManager.cull_connected=True",
        ]
    )
    async with make_pool(gateway_launcher(eg), tmp_path) as pool:
        # One kernel was culled while idle in the pool, and replaced.
        await eventually(lambda: pool.stats["started_total"] >= 2, timeout=180)
        outcomes = []
        for _ in range(3):  # a lease may still lose its kernel to a cull mid-cell: it says so
            async with pool.lease(timeout=90) as kernel:
                ex = await kernel.execute("'alive'", timeout=30)
            outcomes.append(ex.error.message if ex.error else ex.outputs[0]["data"]["text/plain"])
            if ex.status == "ok":
                break
        assert outcomes[-1] == "'alive'", outcomes
        assert all(o.startswith("kernel died: the gateway") for o in outcomes[:-1]), outcomes
    assert eg.kernels() == []


async def test_a_restarted_worker_deletes_what_its_last_life_left(
    gateway: EnterpriseGateway, caplog: pytest.LogCaptureFixture
) -> None:
    crashed = gateway_launcher(gateway)
    api = GatewayAPI(gateway.url, gateway.token)
    env = {"KERNEL_USERNAME": "pyexec"}
    left = [
        (await api.start_kernel("pyexec-gateway-local", {**env, "KERNEL_ID": kid})).id
        for kid in (new_gateway_kernel_id(crashed.tag), new_gateway_kernel_id(crashed.tag))
    ]
    # One of the same id still connected (another live worker under that id), one of another.
    connected = (
        await api.start_kernel(
            "pyexec-gateway-local", {**env, "KERNEL_ID": new_gateway_kernel_id(crashed.tag)}
        )
    ).id
    channels = GatewayChannels(api, connected)
    await channels.open(60)
    other = (await api.start_kernel("pyexec-gateway-local", env)).id
    try:
        again = gateway_launcher(gateway, worker_id=crashed.worker_id)
        with caplog.at_level(logging.WARNING):
            await again.start()
        assert sorted(await again.delete_leftovers()) == []  # nothing left on a second look
        remaining = {str(k["id"]) for k in gateway.kernels()}
        assert not set(left) & remaining
        assert {connected, other} <= remaining
        assert "deleted 2 gateway kernel(s)" in caplog.text
        assert "another worker running under the same id" in caplog.text
        await again.close()
    finally:
        await channels.close()
        for kernel_id in (connected, other, *left):
            await api.delete_kernel(kernel_id)
        await api.close()
    await crashed.close()


async def test_without_kernel_listing_a_worker_still_starts_and_says_what_it_cannot_do(
    own_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    eg = own_gateway(env={"EG_LIST_KERNELS": "False"})
    with caplog.at_level(logging.WARNING):
        async with make_pool(gateway_launcher(eg), tmp_path) as pool, pool.lease() as kernel:
            assert (await kernel.execute("1", timeout=30)).status == "ok"
    assert "EG_LIST_KERNELS is not True" in caplog.text


async def test_a_kernel_the_gateway_gives_up_on_fails_the_cell_dead(
    own_gateway: GatewayFactory, tmp_path: Path
) -> None:
    eg = own_gateway(args=["--KernelRestarter.restart_limit=0"])  # no restarts: 'dead'
    async with make_pool(gateway_launcher(eg), tmp_path) as pool, pool.lease() as kernel:
        ex = await kernel.execute("import os\nos._exit(3)", timeout=60)
        assert not await kernel.is_alive()
    assert ex.status == "died" and ex.error is not None
    assert ex.error.message == "kernel died (the gateway reports it dead)"
