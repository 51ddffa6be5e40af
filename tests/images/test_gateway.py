"""The kernel image under a real Enterprise Gateway 3.3: launch, cells, interrupt, delete.

EG starts the image with podman (DistributedProcessProxy on localhost, see
tests/support/gateway.py) and the image's launcher hands its kernel to EG over EG's own
protocol, as in a kernel pod. This is where the ipykernel pin (6.x,
images/kernel/requirements.txt) is checked against EG's jupyter_client 6.1: every request
below goes through EG's ZeroMQ session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.support.gateway import CONTAINER_PREFIX, KERNEL_NAME, Channels, Gateway
from tests.support.podman import podman

pytestmark = pytest.mark.timeout(1800)

CELL_TIMEOUT_SECONDS = 120.0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, images: str) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("gateway")).start()
    try:
        yield gw
    finally:
        gw.stop()


def _containers() -> list[str]:
    names = podman("ps", "--all", "--format", "{{.Names}}").stdout.split()
    return [n for n in names if n.startswith(CONTAINER_PREFIX)]


async def _session(gw: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gw.url, headers=gw.headers, timeout=180) as http:
        started = await http.post(
            "/api/kernels", json={"name": KERNEL_NAME, "env": {"KERNEL_USERNAME": "pyexec"}}
        )
        assert started.status_code == 201, (started.text, gw.log())
        kernel_id = started.json()["id"]
        assert CONTAINER_PREFIX + kernel_id in _containers()
        url = gw.url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"
        async with websockets.connect(url, additional_headers=gw.headers) as ws:
            channels = Channels(ws)
            info = await asyncio.wait_for(channels.kernel_info(), CELL_TIMEOUT_SECONDS)
            assert info["status"] == "ok" and info["language_info"]["name"] == "python"
            status, out = await asyncio.wait_for(
                channels.execute(
                    "import os, pandas as pd, pyarrow, ipykernel\n"
                    "print(ipykernel.__version__.split('.')[0], os.getuid(), "
                    "int(pd.DataFrame({'a': [1, 2, 3]}).a.sum()))"
                ),
                CELL_TIMEOUT_SECONDS,
            )
            assert (status, out) == ("ok", "6 10001 6\n"), gw.log()

            # EG's interrupt reaches the kernel as SIGINT through the launcher's comm port.
            async def interrupt() -> int:
                await asyncio.sleep(2)
                return (await http.post(f"/api/kernels/{kernel_id}/interrupt")).status_code

            cell = channels.execute("import time; time.sleep(60)")
            (status, out), code = await asyncio.wait_for(
                asyncio.gather(cell, interrupt()), CELL_TIMEOUT_SECONDS
            )
            assert (status, out, code) == ("error", "KeyboardInterrupt", 204)
            assert await channels.execute("print(6 * 7)") == ("ok", "42\n")
        deleted = await http.delete(f"/api/kernels/{kernel_id}")
        assert deleted.status_code == 204
        assert (await http.get("/api/kernels")).json() == []


def test_kernel_image_under_enterprise_gateway(gateway: Gateway) -> None:
    before = _containers()
    asyncio.run(_session(gateway))
    # The kernel's container ends with the DELETE: nothing is left running.
    for _ in range(60):
        if _containers() == before:
            break
        asyncio.run(asyncio.sleep(0.5))
    assert _containers() == before
