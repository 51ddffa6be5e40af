"""A real Jupyter Enterprise Gateway 3.3 for the image tests, in a venv of its own.

EG 3.3 pins jupyter_client<7, jupyter_server<2 and pyzmq<25, so it cannot share the test
venv: it runs from the one the backend's tests use (`tests.support.services.gateway_venv`,
made once and cached), as a separate server on free loopback ports. Its kernelspec starts the
kernel image with podman through EG's DistributedProcessProxy on localhost: the same launcher
protocol (response address, encrypted connection, signals over the comm port) that kernel pods
speak to the gateway on Kubernetes, without a cluster.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.support.podman import KERNEL_IMAGE, LIMITS, PODMAN
from tests.support.servers import free_port
from tests.support.services import gateway_venv

START_TIMEOUT_SECONDS = 60.0
LAUNCH_TIMEOUT_SECONDS = 120
KERNEL_NAME = "pyexec-podman"
CONTAINER_PREFIX = "pyexec-eg-"


def kernelspec(root: Path) -> Path:
    """The podman kernelspec: the image's own command, given what a kernel pod is given."""
    argv = [
        *PODMAN, "run", "--rm", "--name", CONTAINER_PREFIX + "{kernel_id}", *LIMITS,
        "--network", "host", "--read-only", "--tmpfs", "/tmp:rw,mode=1777", "--volume", "/work",
        "--env", "KERNEL_ID={kernel_id}", "--env", "RESPONSE_ADDRESS={response_address}",
        "--env", "PUBLIC_KEY={public_key}", "--env", "PORT_RANGE={port_range}", KERNEL_IMAGE,
    ]  # fmt: skip
    spec = {
        "display_name": "PyExec kernel image (podman)",
        "language": "python",
        "interrupt_mode": "signal",
        "env": {},
        "metadata": {
            "process_proxy": {
                "class_name": "enterprise_gateway.services.processproxies.distributed."
                "DistributedProcessProxy",
                "config": {"remote_hosts": "localhost"},
            }
        },
        "argv": argv,
    }
    path = root / "kernels" / KERNEL_NAME
    path.mkdir(parents=True, exist_ok=True)
    (path / "kernel.json").write_text(json.dumps(spec, indent=2))
    return root


@dataclass
class Gateway:
    root: Path
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start(self) -> Gateway:
        program = gateway_venv() / "bin" / "jupyter-enterprisegateway"
        low = 42000 + secrets.randbelow(20) * 1000
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.root),
            "JUPYTER_PATH": str(kernelspec(self.root)),
            "JUPYTER_RUNTIME_DIR": str(self.root / "runtime"),
            "EG_AUTH_TOKEN": self.token,
            "EG_PORT_RANGE": f"{low}..{low + 999 + 1}",
            "EG_RESPONSE_PORT": str(free_port()),
            "EG_RESPONSE_PORT_RETRIES": "0",
            "EG_KERNEL_LAUNCH_TIMEOUT": str(LAUNCH_TIMEOUT_SECONDS),
            "EG_LIST_KERNELS": "True",
            "EG_KERNEL_LOG_DIR": str(self.root),
        }
        args = [
            str(program), "--ip=127.0.0.1", f"--port={self.port}", "--port_retries=0",
            f"--KernelSpecManager.whitelist=['{KERNEL_NAME}']",
        ]  # fmt: skip
        log = (self.root / "gateway.log").open("wb")
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                answer = httpx.get(f"{self.url}/api/kernelspecs", headers=self.headers)
                if answer.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(
            f"the gateway did not start in {START_TIMEOUT_SECONDS} s:\n{self.log()}"
        )

    def log(self) -> str:
        return (self.root / "gateway.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _message(msg_type: str, content: dict[str, Any], channel: str = "shell") -> dict[str, Any]:
    header = {
        "msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "pyexec",
        "session": uuid.uuid4().hex, "date": "", "version": "5.3",
    }  # fmt: skip
    return {
        "header": header, "parent_header": {}, "metadata": {}, "content": content,
        "channel": channel, "buffers": [],
    }  # fmt: skip


class Channels:
    """The kernel's one WebSocket through the gateway: send a request, read its replies."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    async def kernel_info(self) -> dict[str, Any]:
        request = _message("kernel_info_request", {})
        await self.ws.send(json.dumps(request))
        return (await self._reply(request, "kernel_info_reply"))[0]["content"]

    async def execute(self, code: str) -> tuple[str, str]:
        """(status, stdout and error names) of one cell."""
        request = _message(
            "execute_request",
            {"code": code, "silent": False, "store_history": True, "allow_stdin": False},
        )
        await self.ws.send(json.dumps(request))
        reply, seen = await self._reply(request, "execute_reply")
        out = [
            m["content"]["text"] if m["msg_type"] == "stream" else m["content"]["ename"]
            for m in seen
            if m["msg_type"] in ("stream", "error")
        ]
        return reply["content"]["status"], "".join(out)

    async def _reply(
        self, request: dict[str, Any], reply_type: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        # The reply (shell) and the cell's output (iopub) come on different channels, in no
        # set order: a cell is done when both its reply and the iopub's idle for it are in.
        seen = []
        reply: dict[str, Any] | None = None
        idle = reply_type != "execute_reply"
        while reply is None or not idle:
            message = json.loads(await self.ws.recv())
            if message["parent_header"].get("msg_id") != request["header"]["msg_id"]:
                continue
            if message["msg_type"] == reply_type:
                reply = message
            elif message["msg_type"] == "status":
                idle = idle or message["content"]["execution_state"] == "idle"
            else:
                seen.append(message)
        return reply, seen
