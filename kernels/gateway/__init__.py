"""Kernels on a Jupyter Enterprise Gateway: the launcher behind the pool's seam, and the async
client it speaks the gateway's REST + WebSocket protocol with.

    launcher = GatewayLauncher("http://eg:8888", token="...", worker_id="worker-1",
                               kernel_name="pyexec-python-k8s")
    pool = KernelPool(size=2, launcher=launcher, work_root=Path("/data/work"))

`python -m pyexec.kernels.gateway.kernelspec` installs the kernelspec of a gateway next to PyExec.
"""

from pyexec.kernels.gateway.api import GatewayAPI, GatewayKernelModel
from pyexec.kernels.gateway.channels import GatewayChannels
from pyexec.kernels.gateway.errors import (
    GatewayAuthError,
    GatewayError,
    GatewayLaunchTimeoutError,
    GatewayLimitError,
    GatewayUnreachableError,
    KernelSpecNotFoundError,
)
from pyexec.kernels.gateway.launcher import GatewayKernel, GatewayLauncher

__all__ = [
    "GatewayAPI",
    "GatewayAuthError",
    "GatewayChannels",
    "GatewayError",
    "GatewayKernel",
    "GatewayKernelModel",
    "GatewayLaunchTimeoutError",
    "GatewayLauncher",
    "GatewayLimitError",
    "GatewayUnreachableError",
    "KernelSpecNotFoundError",
]
