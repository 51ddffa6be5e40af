"""The one seam through which kernels are started.

The pool only ever talks to a `KernelLauncher` and the `LaunchedKernel` handles it returns,
so backends (a local subprocess, a fork server, Jupyter Enterprise Gateway) plug in here
without touching the pool or the execution code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

from pyexec.kernels.client import KernelClient
from pyexec.kernels.files import KernelFiles
from pyexec.kernels.sandbox import Isolation
from pyexec.kernels.workdir import EvaluateInKernel, HostWorkDir, StopKernel


class LaunchedKernel(ABC):
    """A running kernel process as its backend sees it: a client plus process control.

    Every method must be safe to call after the kernel is gone; `kill` and `shutdown` are
    idempotent and never raise for an already-dead kernel.
    """

    kernel_id: str
    # True when the kernel already ran `kernels.warmup.WARMUP_CODE` (the pool skips it).
    warm: bool = False

    @property
    @abstractmethod
    def client(self) -> KernelClient:
        """A client with its shell and iopub channels started (stdin is never offered)."""

    @property
    @abstractmethod
    def kernelspec(self) -> dict[str, str]:
        """{"name", "display_name", "language"}, as notebook metadata wants it."""

    @abstractmethod
    async def is_alive(self) -> bool:
        """Cheap enough to call every ~100 ms while a cell runs."""

    async def confirm_alive(self) -> bool:
        """A thorough look before the kernel is lent: a remote backend asks its server, which
        may have culled the kernel a moment ago. By default the same as `is_alive`."""
        return await self.is_alive()

    @abstractmethod
    async def exit_status(self) -> int | None:
        """None while alive; then an exit code (>= 0) or minus the signal number."""

    async def connected(self) -> None:  # noqa: B027 - a no-op default is the right default
        """Called once the kernel answers: the backend may take back what the kernel needed
        only to start (the sandbox takes back its socket dir)."""

    def death_reason(self) -> str | None:
        """Why the kernel died, when the backend knows better than its exit status (out of
        memory in its cgroup, could not enter its sandbox); None otherwise."""
        return None

    @abstractmethod
    async def interrupt(self) -> None:
        """Ask the kernel to stop the running cell (KeyboardInterrupt in user code)."""

    @abstractmethod
    async def kill(self) -> bool:
        """Kill the kernel and every process it started, and wait until they are gone.

        True when the backend verified that no process of the kernel is left (a cgroup, a uid
        of its own); False when it can only vouch for the kernel's own process group.
        """

    @property
    def runs_as_service_user(self) -> bool:
        """The kernel has the service's own rights (no uid of its own)."""
        return True

    def files(self, work_dir: Path, stop: StopKernel, evaluate: EvaluateInKernel) -> KernelFiles:
        """How the service moves files into and out of the kernel's work dir. By default the
        work dir is on the service's disk, read only after `stop` (see `kernels.workdir`);
        `evaluate` is for a backend whose files travel over the kernel's own channel."""
        return HostWorkDir(work_dir, stop, must_stop=not self.runs_as_service_user)

    @abstractmethod
    async def shutdown(self) -> None:
        """Kill (kernels are never reused, so no polite shutdown) and release everything."""


class KernelLauncher(ABC):
    """Starts kernels. One instance serves a whole pool."""

    backend = "custom"  # its name in reports (kernels.telemetry); each backend sets its own

    def prepare_in_kernel(self, code: str) -> bool:
        """Have every kernel launched from now on run `code` (silently, after its warm-up)
        before it answers, if this backend can without a round trip; False: the caller runs
        it itself. Called before `start()`."""
        return False

    async def start(self) -> None:  # noqa: B027 - a no-op default is the right default
        """Called by the pool's `start()`, before any launch: check what can be checked at
        once (a remote backend's server and credentials) and raise for what configuration
        must fix. Local backends probe their host on their first launch instead."""

    @abstractmethod
    async def launch(
        self, kernel_id: str, work_dir: Path, env: Mapping[str, str]
    ) -> LaunchedKernel:
        """Start a kernel with `work_dir` as cwd and exactly `env` as its environment.

        Must leave nothing behind if it fails or is cancelled. Readiness (kernel_info and
        IOPub) is checked by the caller, the same way for every backend.
        """

    @property
    def isolation(self) -> Isolation | None:
        """How far kernels are isolated (None until the host has been probed)."""
        return None

    @property
    def troubleshooting(self) -> str:
        """What to check when kernels keep failing to start (for the pool's ERROR line)."""
        return "the kernel backend's configuration and its log"

    async def check(self, work_root: Path) -> Isolation | None:
        """Probe the host now, as the first launch would, and say what kernels will get.

        Raises SandboxUnavailableError when the sandbox's mode refuses this host, so that a
        service can refuse to start before it serves anything.
        """
        return self.isolation

    async def close(self) -> None:  # noqa: B027 - a no-op default is the right default
        """Release what the launcher holds itself (not the kernels: the pool owns those)."""
