"""A kernel the gateway cannot start in time: the error says so, and what the gateway may have
started is deleted.

A local gateway never times a launch out (its kernels are processes it spawns at once), so
the gateway here is httpx's in-memory transport answering as Enterprise Gateway 3.3.0 does
(`RemoteProcessProxy.handle_timeout` raises `HTTPError(500, reason=…)`, which its
`write_error` sends as `{"reason": …, "message": ""}`).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from pyexec.kernels.gateway import GatewayLauncher, GatewayLaunchTimeoutError

SPEC = "pyexec-python-k8s"


class FakeGateway:
    """Enterprise Gateway's answers to a worker's start-up and one kernel launch."""

    def __init__(self, launch: httpx.Response | Exception) -> None:
        self.launch = launch
        self.posted: list[dict[str, object]] = []
        self.deleted: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/api":
            return httpx.Response(200, json={"version": "1.15.6", "gateway_version": "3.3.0"})
        if request.method == "GET" and path == f"/api/kernelspecs/{SPEC}":
            return httpx.Response(200, json={"name": SPEC, "spec": {"language": "python"}})
        if request.method == "GET" and path == "/api/kernels":
            return httpx.Response(200, json=[])
        if request.method == "POST" and path == "/api/kernels":
            self.posted.append(json.loads(request.content))
            if isinstance(self.launch, Exception):
                raise self.launch
            return self.launch
        if request.method == "DELETE" and path.startswith("/api/kernels/"):
            self.deleted.append(path.rsplit("/", 1)[1])
            return httpx.Response(204)
        return httpx.Response(404, json={"reason": "Not Found", "message": ""})

    def launcher(self) -> GatewayLauncher:
        return GatewayLauncher(
            "http://eg:8888",
            token="t0ken",
            worker_id="worker-1",
            launch_timeout=120,
            transport=httpx.MockTransport(self.handle),
        )


def eg_launch_timeout(kernel_id: str = "k") -> httpx.Response:
    reason = (
        f"KernelID: '{kernel_id}' launch timeout due to: "
        "Waited too long (120.0s) to get connection file"
    )
    return httpx.Response(500, json={"reason": reason, "message": ""})


async def test_the_gateways_launch_timeout_is_named_and_its_kernel_deleted(tmp_path: Path) -> None:
    gateway = FakeGateway(eg_launch_timeout())
    launcher = gateway.launcher()
    with pytest.raises(GatewayLaunchTimeoutError, match="could not start a kernel") as raised:
        await launcher.launch("pool-k", tmp_path / "k", {})
    assert "Waited too long (120.0s) to get connection file" in str(raised.value)
    assert "t0ken" not in str(raised.value)
    await launcher.close()
    (posted,) = gateway.posted
    env = posted["env"]
    assert isinstance(env, dict) and env["KERNEL_LAUNCH_TIMEOUT"] == "120"
    # The pod may exist: the id the worker chose for it is deleted.
    assert gateway.deleted == [env["KERNEL_ID"]]


async def test_a_gateway_silent_past_the_launch_timeout_is_a_launch_timeout(
    tmp_path: Path,
) -> None:
    gateway = FakeGateway(httpx.ReadTimeout("no answer"))
    launcher = gateway.launcher()
    with pytest.raises(GatewayLaunchTimeoutError, match="did not start a kernel within 150 s"):
        await launcher.launch("pool-k", tmp_path / "k", {})
    # Cancelled mid-POST, the kernel may still be created: deleted once at least.
    await asyncio.wait_for(launcher.close(), timeout=30)
    (posted,) = gateway.posted
    env = posted["env"]
    assert isinstance(env, dict) and env["KERNEL_ID"] in gateway.deleted
