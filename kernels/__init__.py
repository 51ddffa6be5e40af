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

from kernels.env import build_kernel_env
from kernels.errors import CellTimeoutError, KernelDiedError, KernelStartError, PoolClosedError
from kernels.execution import Execution, ExecutionError, ExecutionStatus
from kernels.files import Collected, FileUnavailableError, FoundFile, KernelFiles
from kernels.forkserver import ForkServerLauncher
from kernels.gateway import GatewayLauncher
from kernels.kernel import Kernel, OutputCallback
from kernels.launcher import KernelLauncher, LaunchedKernel
from kernels.local import LocalLauncher
from kernels.pool import KernelPool
from kernels.sandbox import (
    Isolation,
    KernelLimits,
    SandboxPolicy,
    SandboxUnavailableError,
)
from kernels.warmup import WARMUP_CODE

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
    "SandboxPolicy",
    "SandboxUnavailableError",
    "build_kernel_env",
]
