"""`LocalLauncher`: kernels as local subprocesses, through jupyter_client's provisioner seam.

`AsyncKernelManager` drives the launch, so its provisioner (`LocalProvisioner` today, the fork
server's provisioner later) decides how the process is made. The KernelSpec is built from the
interpreter path, so nothing has to be installed in a Jupyter data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerBase
from traitlets import Instance

from kernels.env import prepend_path
from kernels.errors import KernelStartError
from kernels.launcher import KernelLauncher, LaunchedKernel

log = logging.getLogger(__name__)

KERNEL_NAME = "pyexec-python"
DISPLAY_NAME = "Python 3 (PyExec)"
# History in memory: a kernel lives for one job, and an on-disk sqlite file would only add
# start-up work and a stray file in the work dir.
KERNEL_ARGS = ("--HistoryManager.hist_file=:memory:",)
# The client connects before the kernel binds; libzmq's default 100 ms retry would then add
# up to 100 ms to every start.
RECONNECT_IVL_MS = 5
KILL_WAIT_S = 5.0


def build_kernel_spec(python: str, extra_args: Sequence[str] = ()) -> KernelSpec:
    return KernelSpec(
        argv=[
            python,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            *KERNEL_ARGS,
            *extra_args,
        ],
        display_name=DISPLAY_NAME,
        language="python",
        interrupt_mode="signal",
        env={},
        metadata={"debugger": False},
    )


class _OneSpecManager(KernelSpecManager):
    """Answers every lookup with our programmatic spec instead of scanning Jupyter dirs."""

    spec = Instance(KernelSpec)

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.spec


class LocalLauncher(KernelLauncher):
    """Starts `python -m ipykernel_launcher` subprocesses, each in its own session."""

    def __init__(
        self,
        python: str | os.PathLike[str] = sys.executable,
        *,
        extra_args: Sequence[str] = (),
        runtime_dir: Path | None = None,
    ) -> None:
        # Not resolved: a venv's python is a symlink, and resolving it would escape the venv.
        self.python = os.path.abspath(os.fspath(python))
        self.spec = build_kernel_spec(self.python, extra_args)
        self._spec_manager = _OneSpecManager(spec=self.spec)
        self._runtime_root = runtime_dir
        self._runtime_dir: Path | None = None
        self._context: zmq.asyncio.Context | None = None
        self._closed = False

    @property
    def kernelspec(self) -> dict[str, str]:
        return {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"}

    async def launch(
        self, kernel_id: str, work_dir: Path, env: Mapping[str, str]
    ) -> LaunchedKernel:
        if self._closed:
            raise KernelStartError("the launcher is closed")
        runtime = self._ensure_runtime_dir()
        context = self._ensure_context()
        # ipc, not tcp: no port of the kernel is reachable from the network, and the socket
        # files live in a private 0700 directory of this launcher.
        km = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=self._spec_manager,
            context=context,
            transport="ipc",
            ip=str(runtime / kernel_id),
            connection_file=str(runtime / f"{kernel_id}.json"),
        )
        kernel_env = prepend_path(env, Path(self.python).parent)
        try:
            await km.start_kernel(
                kernel_id=kernel_id,
                env=kernel_env,
                cwd=str(work_dir),
                stdin=subprocess.DEVNULL,
            )
            client: AsyncKernelClient = km.client(context=context)
            client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        except BaseException as exc:
            # Also on cancellation: a process may already exist that nobody else knows about.
            await _discard(km)
            if isinstance(exc, Exception) and not isinstance(exc, KernelStartError):
                raise KernelStartError(f"could not launch kernel: {exc}") from exc
            raise
        return LocalKernel(kernel_id, km, client, self.kernelspec)

    async def close(self) -> None:
        self._closed = True
        if self._context is not None:
            self._context.destroy(linger=0)
            self._context = None
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None

    def _ensure_runtime_dir(self) -> Path:
        if self._runtime_dir is None:
            # Short path on purpose: unix socket paths are limited to ~107 bytes.
            self._runtime_dir = Path(tempfile.mkdtemp(prefix="pyexec-k-", dir=self._runtime_root))
            os.chmod(self._runtime_dir, 0o700)
        return self._runtime_dir

    def _ensure_context(self) -> zmq.asyncio.Context:
        if self._context is None:
            self._context = zmq.asyncio.Context()
            self._context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
        return self._context


class LocalKernel(LaunchedKernel):
    """Process control goes through the kernel manager's provisioner, never around it, so a
    different provisioner (the fork server's) changes how kernels are made, not this code."""

    def __init__(
        self,
        kernel_id: str,
        km: AsyncKernelManager,
        client: AsyncKernelClient,
        kernelspec: dict[str, str],
    ) -> None:
        assert km.provisioner is not None
        self.kernel_id = kernel_id
        self._km = km
        self._provisioner: KernelProvisionerBase = km.provisioner
        self._client = client
        self._kernelspec = kernelspec
        self._exit_status: int | None = None
        self._shut_down = False

    @property
    def client(self) -> AsyncKernelClient:
        return self._client

    @property
    def kernelspec(self) -> dict[str, str]:
        return dict(self._kernelspec)

    @property
    def pid(self) -> int | None:
        return getattr(self._provisioner, "pid", None)

    async def exit_status(self) -> int | None:
        # Cached: once the process is reaped, the provisioner forgets how it ended.
        if self._exit_status is None and not self._shut_down:
            self._exit_status = await self._provisioner.poll()
        return self._exit_status

    async def is_alive(self) -> bool:
        return not self._shut_down and await self.exit_status() is None

    async def interrupt(self) -> None:
        if await self.is_alive():
            await self._km.interrupt_kernel()

    async def kill(self) -> None:
        status = await _kill(self._provisioner)
        if self._exit_status is None:
            self._exit_status = status

    async def shutdown(self) -> None:
        if self._shut_down:
            return
        _stop_channels(self._client)
        await self.kill()
        self._shut_down = True
        await _cleanup(self._km)


async def _kill(provisioner: KernelProvisionerBase) -> int | None:
    """SIGKILL the kernel's process group and wait until the kernel is gone."""
    # Signal even when the kernel itself already died: background processes the user
    # started live on in its process group (LocalProvisioner signals the group).
    try:
        await provisioner.kill()
    except Exception:
        log.exception("killing kernel %s failed", provisioner.kernel_id)
    deadline = time.monotonic() + KILL_WAIT_S
    while (status := await provisioner.poll()) is None:
        if time.monotonic() > deadline:
            log.warning("kernel %s did not exit after SIGKILL", provisioner.kernel_id)
            break
        await asyncio.sleep(0.005)
    return status


def _stop_channels(client: AsyncKernelClient) -> None:
    # Not client.stop_channels(): it touches (and so creates) the channels never started.
    for channel in (client.shell_channel, client.iopub_channel):
        with contextlib.suppress(Exception):
            channel.stop()


async def _cleanup(km: AsyncKernelManager) -> None:
    try:
        if km.provisioner is not None and km.provisioner.has_process:
            await km.provisioner.wait()  # reaps and closes the process's pipes
        await km.cleanup_resources()  # connection file, ipc sockets, control socket
    except Exception:
        log.exception("cleaning up kernel %s failed", km.kernel_id)


async def _discard(km: AsyncKernelManager) -> None:
    if km.provisioner is not None and km.provisioner.has_process:
        await _kill(km.provisioner)
    await _cleanup(km)
