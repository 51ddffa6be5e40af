"""`ForkServerLauncher`: fresh kernels forked from a warmed zygote in tens of milliseconds.

Same launch path as `LocalLauncher` (a kernel manager, an ipc connection file in the kernel's
own socket dir, the same sandbox lease), but the kernelspec names the `pyexec-forkserver`
provisioner, which asks this launcher's `ForkServer` for a child instead of starting a
process. The zygote runs inside the sandbox's base view (bubblewrap) when there is one; each
child enters its own jail right after the fork.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.factory import KernelProvisionerFactory
from traitlets import Any as AnyTrait

from kernels.env import prepend_path
from kernels.errors import KernelStartError
from kernels.forkserver.provisioner import PROVISIONER_NAME
from kernels.forkserver.server import START_TIMEOUT_S, ForkServer
from kernels.jail import Jail
from kernels.local import (
    CONNECTION_FILENAME,
    KERNEL_NAME,
    LOG_FILENAME,
    LocalLauncher,
    PyExecKernelManager,
    _OneSpecManager,
    build_kernel_spec,
)
from kernels.sandbox import SandboxLease, SandboxPolicy
from kernels.warmup import WARMUP_CODE


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


class ForkServerLauncher(LocalLauncher):
    backend = "forkserver"
    _exec_after_jail = False  # a fork of the zygote is already the interpreter that runs
    _prewarms = True  # the child runs WARMUP_CODE before it answers

    def __init__(
        self,
        python: str | os.PathLike[str] = sys.executable,
        *,
        runtime_dir: Path | None = None,
        sandbox: SandboxPolicy | None = None,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        super().__init__(python, runtime_dir=runtime_dir, sandbox=sandbox)
        self.start_timeout = start_timeout
        self.server: ForkServer | None = None

    @property
    def _wrapped(self) -> bool:
        return False  # the zygote reports each child's own exit status

    async def _setup(self, work_root: Path, runtime: Path) -> None:
        async with self._setup_lock:
            if self._spec_manager is None:
                _register_provisioner()
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
                    start_timeout=self.start_timeout,
                    home=str(home),
                )
                self._spec_manager = _OneSpecManager(spec=spec)
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

    async def _start(
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


def _register_provisioner() -> None:
    """Make the provisioner known even where the package's entry points are not installed
    (a source checkout run without `pip install -e .`)."""
    factory = KernelProvisionerFactory.instance()
    if PROVISIONER_NAME in factory.provisioners:
        return
    with contextlib.suppress(Exception):  # not installed as an entry point: registered below
        factory._check_availability(PROVISIONER_NAME)
    if PROVISIONER_NAME not in factory.provisioners:
        from importlib.metadata import EntryPoint

        factory.provisioners[PROVISIONER_NAME] = EntryPoint(
            name=PROVISIONER_NAME,
            value="kernels.forkserver.provisioner:ForkServerProvisioner",
            group="jupyter_client.kernel_provisioners",
        )
    if PROVISIONER_NAME not in factory.provisioners:
        raise KernelStartError("cannot register the fork server's kernel provisioner")
