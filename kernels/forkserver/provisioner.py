"""`ForkServerProvisioner`: jupyter_client's provisioner seam, with kernels forked by a zygote.

`LocalProvisioner.pre_launch` still writes the connection file (ipc transport, in the kernel's
own socket dir); instead of `Popen`, `launch_kernel` asks the kernel manager's fork server
for a child. Process control (`poll`, `wait`, `send_signal`, `kill`, `terminate`) goes through
the fork server, because the zygote, not this process, is the kernel's parent.

Registered as the `pyexec-forkserver` entry point of `jupyter_client.kernel_provisioners`
and named by the kernelspec's `metadata.kernel_provisioner`.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any, cast

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

if TYPE_CHECKING:
    from pyexec.kernels.forkserver.launcher import ForkServerKernelManager
    from pyexec.kernels.forkserver.server import ForkServer

PROVISIONER_NAME = "pyexec-forkserver"


class ForkServerProvisioner(LocalProvisioner):
    pid: int | None = None
    pgid: int | None = None
    # The kernel itself when `pid` forked it into a PID namespace of its own (kernels.jail).
    namespace_init: int | None = None
    _server: ForkServer | None = None
    _status: int | None = None

    @property
    def has_process(self) -> bool:
        return self.pid is not None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        # jupyter_client types `parent` as Any | None; the launcher makes it this manager.
        km = cast("ForkServerKernelManager", self.parent)
        if km.forkserver is None or km.fork_request is None:
            raise RuntimeError("ForkServerProvisioner needs a ForkServerKernelManager")
        self._server = km.forkserver
        request = km.fork_request
        self.pid = await self._server.spawn(
            kernel_id=str(self.kernel_id),
            connection_file=km.connection_file,
            cwd=str(kwargs.get("cwd") or request.cwd),
            env=kwargs.get("env") or {},
            jail=request.jail,
            log_file=request.log_file,
        )
        self.pgid = self.pid  # the child leads its own session and process group
        self.namespace_init = self._server.namespace_init(self.pid)
        self._status = None
        return self.connection_info

    async def poll(self) -> int | None:
        if self.pid is None or self._server is None:
            return self._status if self._status is not None else 0
        return self._server.exit_status(self.pid)

    async def wait(self) -> int | None:
        if self.pid is None or self._server is None:
            return self._status if self._status is not None else 0
        self._status = await self._server.wait(self.pid)
        self._server.forget(self.pid)
        self.pid = None  # has_process is False from now on
        return self._status

    async def send_signal(self, signum: int) -> None:
        if self.pid is not None and self._server is not None:
            await self._server.signal(self.pid, signum)

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    def setup_error(self) -> str | None:
        if self.pid is None or self._server is None:
            return None
        return self._server.setup_error(self.pid)
