"""A pool of fresh Jupyter kernels and running code in them.

Depends only on jupyter_client, pyzmq and the standard library, so it can be published on
its own. Typical use::

    launcher = ForkServerLauncher(sandbox=SandboxPolicy())   # or LocalLauncher(...)
    pool = KernelPool(size=2, launcher=launcher, work_root=Path("/data/work"))
    await pool.start()
    async with pool.lease() as kernel:
        ex = await kernel.execute("1 + 1", timeout=30.0)
    await pool.close()

Backends: `LocalLauncher` (a subprocess per kernel), `ForkServerLauncher` (kernels forked
from a warmed zygote) and `GatewayLauncher` (kernels a Jupyter Enterprise Gateway starts, e.g.
as Kubernetes pods; see `kernels.gateway`). The local two isolate kernels per `SandboxPolicy`
as far as the host allows; every backend reports its isolation as `launcher.isolation`; how
files pass between the service and a sandboxed kernel is described in `kernels.sandbox`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Loaded on first use: a kernel's own launcher (`python -m kernels.jail`) and the sandbox's
# probes import one small module of this package, not jupyter_client, zmq and the rest
# (about a second of a local kernel's start on a loaded machine).
_WHERE = {
    "build_kernel_env": "pyexec.kernels.env",
    "CellTimeoutError": "pyexec.kernels.errors",
    "KernelDiedError": "pyexec.kernels.errors",
    "KernelStartError": "pyexec.kernels.errors",
    "PoolClosedError": "pyexec.kernels.errors",
    "Execution": "pyexec.kernels.execution",
    "ExecutionError": "pyexec.kernels.execution",
    "ExecutionStatus": "pyexec.kernels.execution",
    "strip_ansi": "pyexec.kernels.execution",
    "Collected": "pyexec.kernels.files",
    "FileUnavailableError": "pyexec.kernels.files",
    "FoundFile": "pyexec.kernels.files",
    "KernelFiles": "pyexec.kernels.files",
    "ForkServerLauncher": "pyexec.kernels.forkserver",
    "GatewayLauncher": "pyexec.kernels.gateway",
    "Kernel": "pyexec.kernels.kernel",
    "OutputCallback": "pyexec.kernels.kernel",
    "KernelLauncher": "pyexec.kernels.launcher",
    "LaunchedKernel": "pyexec.kernels.launcher",
    "LocalLauncher": "pyexec.kernels.local",
    "KernelPool": "pyexec.kernels.pool",
    "PoolHealth": "pyexec.kernels.pool",
    "Isolation": "pyexec.kernels.sandbox",
    "KernelLimits": "pyexec.kernels.sandbox",
    "SandboxPolicy": "pyexec.kernels.sandbox",
    "SandboxUnavailableError": "pyexec.kernels.sandbox",
    "WARMUP_CODE": "pyexec.kernels.warmup",
}

if TYPE_CHECKING:
    from pyexec.kernels.env import build_kernel_env
    from pyexec.kernels.errors import (
        CellTimeoutError,
        KernelDiedError,
        KernelStartError,
        PoolClosedError,
    )
    from pyexec.kernels.execution import (
        Execution,
        ExecutionError,
        ExecutionStatus,
        strip_ansi,
    )
    from pyexec.kernels.files import Collected, FileUnavailableError, FoundFile, KernelFiles
    from pyexec.kernels.forkserver import ForkServerLauncher
    from pyexec.kernels.gateway import GatewayLauncher
    from pyexec.kernels.kernel import Kernel, OutputCallback
    from pyexec.kernels.launcher import KernelLauncher, LaunchedKernel
    from pyexec.kernels.local import LocalLauncher
    from pyexec.kernels.pool import KernelPool, PoolHealth
    from pyexec.kernels.sandbox import (
        Isolation,
        KernelLimits,
        SandboxPolicy,
        SandboxUnavailableError,
    )
    from pyexec.kernels.warmup import WARMUP_CODE


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pyexec.kernels' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "WARMUP_CODE",
    "CellTimeoutError",
    "Collected",
    "Execution",
    "ExecutionError",
    "ExecutionStatus",
    "FileUnavailableError",
    "ForkServerLauncher",
    "FoundFile",
    "GatewayLauncher",
    "Isolation",
    "Kernel",
    "KernelDiedError",
    "KernelFiles",
    "KernelLauncher",
    "KernelLimits",
    "KernelPool",
    "KernelStartError",
    "LaunchedKernel",
    "LocalLauncher",
    "OutputCallback",
    "PoolClosedError",
    "PoolHealth",
    "SandboxPolicy",
    "SandboxUnavailableError",
    "build_kernel_env",
    "strip_ansi",
]
