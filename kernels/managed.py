"""What the local and the fork-server launchers share: kernels driven by a jupyter_client
kernel manager, with a private socket dir each.

`ManagedLauncher.launch` is the one launch path: a private dir `<runtime root>/<kernel id>/`
(its connection file, its ZeroMQ ipc sockets, its jail and its log), a sandbox lease, a kernel
manager, the start, a client. How the kernel process is made is each backend's part: the
KernelSpec and manager it builds (`_setup`, `_make_manager`) and how it starts them
(`_start_kernel`) — a subprocess (`kernels.local`) or a fork of a zygote, through the
`pyexec-forkserver` provisioner (`kernels.forkserver`). `ManagedKernel` is the handle both
return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from traitlets import Instance

from pyexec.kernels.errors import KernelStartError
from pyexec.kernels.launcher import KernelLauncher, LaunchedKernel
from pyexec.kernels.sandbox import Isolation, Sandbox, SandboxLease

log = logging.getLogger(__name__)

KERNEL_NAME = "pyexec-python"
DISPLAY_NAME = "Python 3 (PyExec)"
# History in memory: a kernel lives for one job, and an on-disk sqlite file would only add
# start-up work and a stray file in the work dir.
KERNEL_ARGS = ("--HistoryManager.hist_file=:memory:",)
# The client connects before the kernel binds; libzmq's default 100 ms retry would then add
# up to 100 ms to every start.
RECONNECT_IVL_MS = 5
KILL_WAIT_SECONDS = 5.0
CONNECTION_FILENAME = "kernel.json"
LOG_FILENAME = "kernel.log"
LOG_TAIL_BYTES = 2000


def build_kernel_spec(
    python: str,
    extra_args: Sequence[str] = (),
    *,
    prefix: Sequence[str] = (),
    metadata: Mapping[str, Any] | None = None,
) -> KernelSpec:
    """`prefix` runs before the kernel (the sandbox launcher); the kernel is ipykernel."""
    return KernelSpec(
        argv=[
            *prefix,
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
        # Over the control channel: a signal cannot reach a kernel inside bubblewrap, and
        # the control thread answers even while a cell keeps the main thread busy.
        interrupt_mode="message",
        env={},
        metadata={"debugger": False, **(metadata or {})},
    )


class PyExecKernelManager(AsyncKernelManager):
    """AsyncKernelManager whose start does not sleep.

    jupyter_client wraps `start_kernel` in a decorator that sleeps 10 ms after the launch
    "to ensure tests can capture the state before done": a fifth of a forked kernel's start.
    This runs the same three steps (pre-start, launch, post-start) and resolves `ready` alike.
    """

    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        self._ready = asyncio.get_running_loop().create_future()
        try:
            self._attempted_start = True
            kernel_cmd, kw = await self._async_pre_start_kernel(**kw)
            await self._async_launch_kernel(kernel_cmd, **kw)
            await self._async_post_start_kernel(**kw)
        except Exception as exc:
            self._ready.set_exception(exc)
            self._ready.exception()  # retrieved: the exception is raised to the caller
            raise
        self._ready.set_result(None)


class OneSpecManager(KernelSpecManager):
    """Answers every lookup with our programmatic spec instead of scanning Jupyter dirs."""

    spec = Instance(KernelSpec)

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.spec


class ManagedLauncher(KernelLauncher):
    """The launch path of kernels driven by a kernel manager; a backend supplies how the
    process is made.

    `python`: the kernel's interpreter; `sandbox`: the backend's sandbox (None runs kernels as
    plain subprocesses of the service's user, with only a scrubbed environment).
    """

    backend: str
    # The kernels it makes already ran `WARMUP_CODE` (the pool skips it).
    prewarmed: bool = False

    def __init__(self, python: str, *, runtime_dir: Path | None, sandbox: Sandbox | None) -> None:
        self.python = python
        self.sandbox = sandbox
        self._spec_manager: OneSpecManager | None = None
        self._runtime_root = runtime_dir
        self._runtime_dir: Path | None = None
        self._context: zmq.asyncio.Context | None = None
        self._closed = False
        self._setup_lock = asyncio.Lock()

    # -- each backend's part -------------------------------------------------------------

    @abstractmethod
    async def _setup(self, work_root: Path, runtime: Path) -> None:
        """Once, before the first launch: the sandbox and the KernelSpec (`_spec_manager`)."""

    @abstractmethod
    def _make_manager(
        self,
        kernel_id: str,
        kernel_dir: Path,
        work_dir: Path,
        lease: SandboxLease | None,
        context: zmq.asyncio.Context,
    ) -> AsyncKernelManager:
        """The kernel's manager, with ipc sockets in `kernel_dir`."""

    @abstractmethod
    async def _start_kernel(
        self,
        km: AsyncKernelManager,
        kernel_id: str,
        kernel_dir: Path,
        work_dir: Path,
        env: Mapping[str, str],
        lease: SandboxLease | None,
    ) -> None:
        """Start the kernel through `km` (its provisioner makes the process)."""

    @property
    def status_from_wrapper(self) -> bool:
        """The process the provisioner polls is a wrapper that reports a kernel's death by
        signal N as exit status 128 + N (bubblewrap's monitor)."""
        return False

    # -- the shared launch path ----------------------------------------------------------

    @property
    def kernelspec(self) -> dict[str, str]:
        return {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"}

    @property
    def isolation(self) -> Isolation | None:
        """What kernels get; None until the first launch has probed the host."""
        if self.sandbox is None:
            return Isolation(
                self.backend,
                "off",
                {"environment": "scrubbed", "session": "own session and process group"},
                {"sandbox": "no sandbox policy configured"},
            )
        return self.sandbox.isolation

    @property
    def troubleshooting(self) -> str:
        hint = (
            f"that {self.python} runs and imports ipykernel, pandas and matplotlib (and that "
            "the disk has room)"
        )
        isolation = self.isolation
        if isolation is not None and isolation.level != "off":
            hint += (
                f"; that the kernel sandbox ({isolation.level}) shows the interpreter: compare "
                "with PYEXEC_KERNEL_SANDBOX=off once, and see docs/isolation.md"
            )
        return hint

    async def check(self, work_root: Path) -> Isolation | None:
        if self._closed:
            raise KernelStartError("the launcher is closed")
        if self.sandbox is not None:
            await self.sandbox.setup(work_root, self._ensure_runtime_dir())
        return self.isolation

    async def launch(
        self, kernel_id: str, work_dir: Path, env: Mapping[str, str]
    ) -> LaunchedKernel:
        if self._closed:
            raise KernelStartError("the launcher is closed")
        runtime = self._ensure_runtime_dir()
        await self._setup(Path(work_dir).parent, runtime)
        context = self._ensure_context()
        kernel_dir = runtime / kernel_id
        lease: SandboxLease | None = None
        km: AsyncKernelManager | None = None
        try:
            kernel_dir.mkdir(mode=0o700)
            if self.sandbox is not None:
                lease = await self.sandbox.prepare(kernel_id, work_dir, kernel_dir)
            km = self._make_manager(kernel_id, kernel_dir, work_dir, lease, context)
            await self._start_kernel(km, kernel_id, kernel_dir, work_dir, env, lease)
            client: AsyncKernelClient = km.client(context=context)
            client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        except BaseException as exc:
            # Also on cancellation: a process may already exist that nobody else knows about.
            if km is not None:
                await _discard(km)
            if lease is not None:
                await lease.release()
            await asyncio.to_thread(shutil.rmtree, kernel_dir, True)
            if isinstance(exc, Exception) and not isinstance(exc, KernelStartError):
                raise KernelStartError(f"could not launch kernel: {exc}") from exc
            raise
        return ManagedKernel(
            kernel_id,
            km,
            client,
            self.kernelspec,
            lease=lease,
            runtime_dir=kernel_dir,
            warm=self.prewarmed,
            status_from_wrapper=self.status_from_wrapper,
        )

    async def close(self) -> None:
        self._closed = True
        if self._context is not None:
            self._context.destroy(linger=0)
            self._context = None
        if self._runtime_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._runtime_dir, True)
            self._runtime_dir = None

    def _ensure_runtime_dir(self) -> Path:
        if self._runtime_dir is None:
            # Short path on purpose: unix socket paths are limited to ~107 bytes.
            self._runtime_dir = Path(tempfile.mkdtemp(prefix="pyexec-k-", dir=self._runtime_root))
            # Kernels of other uids pass through to their own dir, but cannot list this one.
            os.chmod(self._runtime_dir, 0o711)
        return self._runtime_dir

    def _ensure_context(self) -> zmq.asyncio.Context:
        if self._context is None:
            self._context = zmq.asyncio.Context()
            self._context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
        return self._context


class ManagedKernel(LaunchedKernel):
    """Process control goes through the kernel manager's provisioner, never around it, so a
    different provisioner (the fork server's) changes how kernels are made, not this code."""

    def __init__(
        self,
        kernel_id: str,
        km: AsyncKernelManager,
        client: AsyncKernelClient,
        kernelspec: dict[str, str],
        *,
        lease: SandboxLease | None = None,
        runtime_dir: Path | None = None,
        warm: bool = False,
        status_from_wrapper: bool = False,
    ) -> None:
        assert km.provisioner is not None
        self.kernel_id = kernel_id
        self.warm = warm
        self._km = km
        self._provisioner: KernelProvisionerBase = km.provisioner
        self._client = client
        self._kernelspec = kernelspec
        self._lease = lease
        self._runtime_dir = runtime_dir
        self._status_from_wrapper = status_from_wrapper
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

    @property
    def uid(self) -> int | None:
        """The kernel's own uid in the sandbox, or None when it runs as the service's."""
        return self._lease.uid if self._lease is not None else None

    async def exit_status(self) -> int | None:
        # Cached: once the process is reaped, the provisioner forgets how it ended.
        if self._exit_status is None and not self._shut_down:
            status = await self._provisioner.poll()
            if status is not None and self._status_from_wrapper and 128 < status <= 128 + 64:
                status = 128 - status
            self._exit_status = status
        return self._exit_status

    async def is_alive(self) -> bool:
        return not self._shut_down and await self.exit_status() is None

    async def interrupt(self) -> None:
        if await self.is_alive():
            await self._km.interrupt_kernel()

    async def connected(self) -> None:
        if self._lease is not None and self._runtime_dir is not None:
            # Its sockets are bound: from now on the kernel must not be able to swap a socket
            # file for a symlink that this (root) process would follow on a reconnect.
            await asyncio.to_thread(self._lease.seal, self._runtime_dir)

    def death_reason(self) -> str | None:
        if self._lease is not None and (reason := self._lease.death_reason()):
            return reason
        setup_error = getattr(self._provisioner, "setup_error", None)
        if callable(setup_error) and (error := setup_error()):
            return f"kernel could not start: {error}"
        return self._log_tail()

    def _log_tail(self) -> str | None:
        # What the kernel printed before dying on its own (a launcher error, a traceback).
        if self._runtime_dir is None:
            return None
        try:
            # Its own file, opened without following a link the kernel could have planted.
            fd = os.open(self._runtime_dir / LOG_FILENAME, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(f.tell() - LOG_TAIL_BYTES, 0))
                tail = f.read().decode(errors="replace").strip()
        except OSError:
            return None
        if "pyexec launcher:" in tail:
            return "kernel could not start: " + tail.rsplit("pyexec launcher:", 1)[1].strip()
        return None

    @property
    def runs_as_service_user(self) -> bool:
        return self.uid is None

    async def kill(self) -> bool:
        status = await _kill(self._provisioner)
        if self._exit_status is None:
            self._exit_status = status
        if self._lease is None:
            return False
        # Also what left the process group (a daemonised child): the whole uid, cgroup or
        # PID namespace.
        return await self._lease.kill_all()

    async def shutdown(self) -> None:
        if self._shut_down:
            return
        _stop_channels(self._client)
        await self.kill()
        self._shut_down = True
        await _cleanup(self._km)
        if self._lease is not None:
            await self._lease.release()
        if self._runtime_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._runtime_dir, True)


async def _kill(provisioner: KernelProvisionerBase) -> int | None:
    """SIGKILL the kernel's process group and wait until the kernel is gone."""
    # Signal even when the kernel itself already died: background processes the user
    # started live on in its process group (LocalProvisioner signals the group).
    try:
        await provisioner.kill()
    except Exception:
        log.exception("killing kernel %s failed", provisioner.kernel_id)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
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
