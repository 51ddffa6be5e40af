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
    "build_kernel_env": "kernels.env",
    "CellTimeoutError": "kernels.errors",
    "KernelDiedError": "kernels.errors",
    "KernelStartError": "kernels.errors",
    "PoolClosedError": "kernels.errors",
    "Execution": "kernels.execution",
    "ExecutionError": "kernels.execution",
    "ExecutionStatus": "kernels.execution",
    "Collected": "kernels.files",
    "FileUnavailableError": "kernels.files",
    "FoundFile": "kernels.files",
    "KernelFiles": "kernels.files",
    "ForkServerLauncher": "kernels.forkserver",
    "GatewayLauncher": "kernels.gateway",
    "Kernel": "kernels.kernel",
    "OutputCallback": "kernels.kernel",
    "KernelLauncher": "kernels.launcher",
    "LaunchedKernel": "kernels.launcher",
    "LocalLauncher": "kernels.local",
    "KernelPool": "kernels.pool",
    "PoolHealth": "kernels.pool",
    "Isolation": "kernels.sandbox",
    "KernelLimits": "kernels.sandbox",
    "SandboxPolicy": "kernels.sandbox",
    "SandboxUnavailableError": "kernels.sandbox",
    "WARMUP_CODE": "kernels.warmup",
}

if TYPE_CHECKING:
    from kernels.env import build_kernel_env
    from kernels.errors import (
        CellTimeoutError,
        KernelDiedError,
        KernelStartError,
        PoolClosedError,
    )
    from kernels.execution import Execution, ExecutionError, ExecutionStatus
    from kernels.files import Collected, FileUnavailableError, FoundFile, KernelFiles
    from kernels.forkserver import ForkServerLauncher
    from kernels.gateway import GatewayLauncher
    from kernels.kernel import Kernel, OutputCallback
    from kernels.launcher import KernelLauncher, LaunchedKernel
    from kernels.local import LocalLauncher
    from kernels.pool import KernelPool, PoolHealth
    from kernels.sandbox import (
        Isolation,
        KernelLimits,
        SandboxPolicy,
        SandboxUnavailableError,
    )
    from kernels.warmup import WARMUP_CODE


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'kernels' has no attribute {name!r}")
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
]
