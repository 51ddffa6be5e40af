"""`ForkServerLauncher`: fresh kernels forked from a warmed zygote in tens of milliseconds.

The same launch path as `LocalLauncher` (`kernels.managed`: a kernel manager, an ipc
connection file in the kernel's own socket dir, the same sandbox lease), but the kernelspec
names the `pyexec-forkserver` provisioner, which asks this launcher's `ForkServer` for a child
instead of starting a process. jupyter_client finds that provisioner through the package's
entry point (`pyproject.toml`). The zygote runs inside the sandbox's base view (bubblewrap)
when there is one; each child enters its own jail right after the fork.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from traitlets import Any as AnyTrait

from pyexec.kernels.env import prepend_path
from pyexec.kernels.errors import KernelStartError
from pyexec.kernels.forkserver.provisioner import PROVISIONER_NAME
from pyexec.kernels.forkserver.server import START_TIMEOUT_SECONDS, ForkServer
from pyexec.kernels.jail import Jail
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
from pyexec.kernels.warmup import WARMUP_CODE


@dataclass(frozen=True)
class ForkRequest:
    """What the provisioner sends the zygote, beyond the connection file and env."""

    jail: str  # Jail as JSON
    cwd: str
    log_file: str


class ForkServerKernelManager(PyExecKernelManager):
    """A kernel manager that carries the fork server to its provisioner (its `parent`)."""

    forkserver = AnyTrait(None, allow_none=True)
    fork_request = AnyTrait(None, allow_none=True)


PROVISIONER_GROUP = "jupyter_client.kernel_provisioners"


class ForkServerLauncher(ManagedLauncher):
    backend = "forkserver"
    prewarmed = True  # the child runs WARMUP_CODE before it answers
    kernel_prepare = ""  # and then this (`prepare_in_kernel`)

    def __init__(
        self,
        python: str | os.PathLike[str] = sys.executable,
        *,
        runtime_dir: Path | None = None,
        sandbox: SandboxPolicy | None = None,
        start_timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        # Not resolved: a venv's python is a symlink, and resolving it would escape the venv.
        interpreter = os.path.abspath(os.fspath(python))
        super().__init__(
            interpreter,
            runtime_dir=runtime_dir,
            # A fork of the zygote is already the interpreter that runs: nothing to exec.
            sandbox=Sandbox(
                sandbox, backend=self.backend, python=interpreter, exec_after_jail=False
            )
            if sandbox
            else None,
        )
        self.start_timeout = start_timeout
        self.server: ForkServer | None = None

    # The zygote reports each child's own exit status: `status_from_wrapper` stays False.

    def prepare_in_kernel(self, code: str) -> bool:
        if self.server is not None:
            return code == self.kernel_prepare  # the zygote is configured already
        self.kernel_prepare = code
        return True

    async def _setup(self, work_root: Path, runtime: Path) -> None:
        async with self._setup_lock:
            if self._spec_manager is None:
                _check_provisioner()
                if self.sandbox is not None:
                    await self.sandbox.setup(work_root, runtime)
                spec = build_kernel_spec(
                    self.python,
                    metadata={
                        "kernel_provisioner": {"provisioner_name": PROVISIONER_NAME, "config": {}}
                    },
                )
                # In the runtime dir, which every kernel's view covers.
                home = runtime / "zygote"
                home.mkdir(mode=0o700, exist_ok=True)
                self.server = ForkServer(
                    self.python,
                    wrap=self.sandbox.wrap if self.sandbox is not None else None,
                    warmup=WARMUP_CODE,
                    prepare=self.kernel_prepare,
                    start_timeout=self.start_timeout,
                    home=str(home),
                )
                self._spec_manager = OneSpecManager(spec=spec)
        assert self.server is not None
        await self.server.start()

    def _make_manager(
        self,
        kernel_id: str,
        kernel_dir: Path,
        work_dir: Path,
        lease: SandboxLease | None,
        context: zmq.asyncio.Context,
    ) -> AsyncKernelManager:
        jail = lease.jail if lease is not None else Jail(work_dir=str(work_dir))
        return ForkServerKernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=self._spec_manager,
            context=context,
            transport="ipc",
            ip=str(kernel_dir / "k"),
            connection_file=str(kernel_dir / CONNECTION_FILENAME),
            forkserver=self.server,
            fork_request=ForkRequest(
                jail=jail.to_json(), cwd=str(work_dir), log_file=str(kernel_dir / LOG_FILENAME)
            ),
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
        kernel_env = prepend_path(env, Path(self.python).parent)
        await km.start_kernel(kernel_id=kernel_id, env=kernel_env, cwd=str(work_dir))
        init = getattr(km.provisioner, "namespace_init", None)
        if lease is not None and init is not None:
            lease.watch_namespace(init)

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
        await super().close()

    @property
    def zygote_pid(self) -> int | None:
        return self.server.pid if self.server is not None else None


def _check_provisioner() -> None:
    """The provisioner's entry point is installed (`pip install -e .` installs it): without
    it, jupyter_client would fail each launch with a less clear message."""
    if not entry_points(group=PROVISIONER_GROUP, name=PROVISIONER_NAME):
        raise KernelStartError(
            f"the fork server's kernel provisioner {PROVISIONER_NAME!r} is not installed as a "
            f"{PROVISIONER_GROUP!r} entry point: install PyExec (`pip install -e .`)"
        )
