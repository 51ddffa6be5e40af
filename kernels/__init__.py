"""A pool of fresh Jupyter kernels and running code in them.

Depends only on jupyter_client, pyzmq and the standard library, so it can be published on
its own. Typical use::

    pool = KernelPool(size=2, launcher=LocalLauncher(), work_root=Path("/data/work"))
    await pool.start()
    async with pool.lease() as kernel:
        ex = await kernel.execute("1 + 1", timeout=30.0)
    await pool.close()
"""

from kernels.env import build_kernel_env
from kernels.errors import CellTimeoutError, KernelDiedError, KernelStartError, PoolClosedError
from kernels.execution import Execution, ExecutionError, ExecutionStatus
from kernels.kernel import Kernel, OutputCallback
from kernels.launcher import KernelLauncher, LaunchedKernel
from kernels.local import LocalLauncher
from kernels.pool import KernelPool
from kernels.warmup import WARMUP_CODE

__all__ = [
    "WARMUP_CODE",
    "CellTimeoutError",
    "Execution",
    "ExecutionError",
    "ExecutionStatus",
    "Kernel",
    "KernelDiedError",
    "KernelLauncher",
    "KernelPool",
    "KernelStartError",
    "LaunchedKernel",
    "LocalLauncher",
    "OutputCallback",
    "PoolClosedError",
    "build_kernel_env",
]
