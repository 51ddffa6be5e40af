"""`LocalLauncher`: kernels as local subprocesses, through jupyter_client's provisioner seam.

`AsyncKernelManager` drives the launch (`kernels.managed`, shared with the fork server), so
its provisioner — `LocalProvisioner` here — decides how the process is made. The KernelSpec is
built from the interpreter path, so nothing has to be installed in a Jupyter data dir.

With a sandbox policy, the kernel starts through `python -m kernels.jail`, inside bubblewrap's
view when available, and enters its jail (`kernels.jail`) before it execs ipykernel. In a jail
with a PID namespace of its own, the launcher reports the kernel's pid through a pipe, and the
sandbox lease follows it.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager

from pyexec.kernels.env import prepend_path
from pyexec.kernels.jail import JAIL_FILENAME
from pyexec.kernels.managed import (
    CONNECTION_FILENAME,
    KERNEL_NAME,
    LOG_FILENAME,
    ManagedLauncher,
    OneSpecManager,
    PyExecKernelManager,
    build_kernel_spec,
)
from pyexec.kernels.sandbox import Sandbox, SandboxLease, SandboxPolicy

# The jail's launcher, run as a module: it needs nothing but the `kernels` package (the
# installable kernelspec's launch.py does the same from its resource dir).
JAIL_LAUNCHER = ("-m", "pyexec.kernels.jail")
# How long the jail's launcher may take to report the kernel's pid in its PID namespace.
REPORT_TIMEOUT_SECONDS = 30.0


class LocalLauncher(ManagedLauncher):
    """Starts `python -m ipykernel_launcher` subprocesses, each in its own session.

    `sandbox`: the isolation policy (see `kernels.sandbox`); None runs kernels as plain
    subprocesses of the service's user, with only a scrubbed environment.
    """

    backend = "local"

    def __init__(
        self,
        python: str | os.PathLike[str] = sys.executable,
        *,
        extra_args: Sequence[str] = (),
        runtime_dir: Path | None = None,
        sandbox: SandboxPolicy | None = None,
    ) -> None:
        # Not resolved: a venv's python is a symlink, and resolving it would escape the venv.
        interpreter = os.path.abspath(os.fspath(python))
        super().__init__(
            interpreter,
            runtime_dir=runtime_dir,
            # The jail's launcher execs ipykernel once it is in its jail.
            sandbox=Sandbox(
                sandbox, backend=self.backend, python=interpreter, exec_after_jail=True
            )
            if sandbox
            else None,
        )
        self.extra_args = tuple(extra_args)

    @property
    def status_from_wrapper(self) -> bool:
        # Through bubblewrap, the process we started is bwrap's monitor: it exits with
        # 128 + N when the kernel died of signal N.
        return self.sandbox is not None and self.sandbox.support.bwrap is not None

    async def _setup(self, work_root: Path, runtime: Path) -> None:
        async with self._setup_lock:
            if self._spec_manager is not None:
                return
            prefix: list[str] = []
            if self.sandbox is not None:
                await self.sandbox.setup(work_root, runtime)
                launcher = [self.python, *JAIL_LAUNCHER, "{connection_file}", "--"]
                prefix = self.sandbox.wrap(launcher)
            spec = build_kernel_spec(self.python, self.extra_args, prefix=prefix)
            self._spec_manager = OneSpecManager(spec=spec)

    def _make_manager(
        self,
        kernel_id: str,
        kernel_dir: Path,
        work_dir: Path,
        lease: SandboxLease | None,
        context: zmq.asyncio.Context,
    ) -> AsyncKernelManager:
        # ipc, not tcp: no port of the kernel is reachable from the network, and the socket
        # files live in the kernel's private 0700 directory.
        return PyExecKernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=self._spec_manager,
            context=context,
            transport="ipc",
            ip=str(kernel_dir / "k"),
            connection_file=str(kernel_dir / CONNECTION_FILENAME),
        )

    async def _start_kernel(
        self,
        km: AsyncKernelManager,
        kernel_id: str,
        kernel_dir: Path,
        work_dir: Path,
        env: Mapping[str, str],
        lease: SandboxLease | None,
    ) -> None:
        report: tuple[int, int] | None = None
        if lease is not None and lease.jail.new_pid:
            # The launcher tells us the kernel's pid once it forked it into its namespace.
            report = os.pipe()
            lease.jail.report_fd = report[1]
        if lease is not None:
            _write_private(kernel_dir / JAIL_FILENAME, lease.jail.to_json())
        kernel_env = prepend_path(env, Path(self.python).parent)
        # The kernel's stdout and stderr go to its own log, never to the service's.
        log_fd = os.open(kernel_dir / LOG_FILENAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            await km.start_kernel(
                kernel_id=kernel_id,
                env=kernel_env,
                cwd=str(work_dir),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                pass_fds=(report[1],) if report else (),
            )
        finally:
            os.close(log_fd)
            if report is not None:
                os.close(report[1])
        if report is not None and lease is not None:
            try:
                pid = await asyncio.to_thread(_read_report, report[0], REPORT_TIMEOUT_SECONDS)
            finally:
                os.close(report[0])
            # None: the launcher failed before the fork; the kernel's log says why.
            if pid is not None:
                lease.watch_namespace(pid)


def _read_report(fd: int, timeout: float) -> int | None:
    """The pid the jail's launcher writes, one line (None: it wrote none and exited).

    A line, not EOF: bubblewrap's own process holds the pipe open as long as it runs."""
    data = b""
    while b"\n" not in data and select.select([fd], [], [], timeout)[0]:
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    try:
        return int(data.split(b"\n", 1)[0])
    except ValueError:
        return None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
