import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_asyncio

from pyexec.kernels import (
    ForkServerLauncher,
    KernelLauncher,
    KernelPool,
    LocalLauncher,
    SandboxPolicy,
)
from pyexec.kernels.gateway import GatewayLauncher
from pyexec.kernels.gateway.kernelspec import LOCAL_KERNELSPEC
from pyexec.kernels.gateway.launcher import is_tagged
from tests.support.services import EnterpriseGateway

PoolFactory = Callable[..., KernelPool]

# How long a kernel has to answer an interrupt before it is killed. Not the shortest that
# works: on a loaded machine (CI, two busy loops beside the suite) a kernel's control thread
# took over 1 s to answer, and a healthy kernel was killed.
INTERRUPT_GRACE = 10.0
# A gateway's interrupt takes more hops (REST, the gateway, the kernel's control channel): no
# shorter than a local kernel's.
GATEWAY_INTERRUPT_GRACE = INTERRUPT_GRACE
# The gateway's DELETE of a kernel that ignores its shutdown request: its
# KernelManager.shutdown_wait_time (SIGTERM half-way, SIGKILL at the end).
GATEWAY_SHUTDOWN_WAIT = 5.0


def _kernel_processes() -> set[int]:
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "ipykernel_launcher" in " ".join(child.cmdline()):
                pids.add(child.pid)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return pids


def _make_pool(work_root: Path, **kwargs: Any) -> KernelPool:
    options: dict[str, Any] = {
        "size": 2,
        "launcher": LocalLauncher(),
        "start_timeout": 30.0,
        "interrupt_grace": INTERRUPT_GRACE,
    }
    options.update(kwargs)
    return KernelPool(work_root=work_root, **options)


def gateway_launcher(gateway: EnterpriseGateway, **kwargs: Any) -> GatewayLauncher:
    """A launcher on the test gateway (or `url`, a way to it), under a worker id of its own."""
    url = kwargs.pop("url", gateway.url)
    options: dict[str, Any] = {
        "token": gateway.token,
        "kernel_name": LOCAL_KERNELSPEC,
        "worker_id": f"test-{uuid.uuid4().hex[:8]}",
        "launch_timeout": 60.0,
    }
    options.update(kwargs)
    return GatewayLauncher(url, **options)


def gateway_kernels_of(gateway: EnterpriseGateway, launcher: GatewayLauncher) -> list[str]:
    """Ids of the gateway's kernels that carry this launcher's worker id."""
    return [str(k["id"]) for k in gateway.kernels() if is_tagged(str(k["id"]), launcher.tag)]


@pytest.fixture
def kernel_processes() -> Callable[[], set[int]]:
    """Pids of ipykernel processes descending from this test process."""
    return _kernel_processes


@pytest.fixture
def make_pool() -> PoolFactory:
    """KernelPool(work_root, **overrides) with test defaults (size 2, LocalLauncher)."""
    return _make_pool


@pytest_asyncio.fixture(
    loop_scope="module", scope="module", params=["local", "forkserver-sandboxed", "gateway"]
)
async def shared_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[KernelPool]:
    """One pool per module and backend: every test still leases its own fresh kernel from it.

    The fork server runs with the default sandbox policy: as root that is a uid of its own,
    namespaces and limits per kernel, so every execution test also runs inside the jail.
    The gateway's kernels are the test Enterprise Gateway's; none may be left afterwards.
    """
    work = tmp_path_factory.mktemp("work")
    launcher: KernelLauncher = LocalLauncher()
    grace = INTERRUPT_GRACE
    if request.param == "forkserver-sandboxed":
        launcher = ForkServerLauncher(sandbox=SandboxPolicy(hidden=(work,)))
    elif request.param == "gateway":
        launcher = gateway_launcher(request.getfixturevalue("gateway"))
        grace = GATEWAY_INTERRUPT_GRACE
    pool = _make_pool(work, launcher=launcher, interrupt_grace=grace)
    await pool.start()
    await pool.wait_ready(timeout=120)
    yield pool
    await pool.close()
    if isinstance(launcher, GatewayLauncher):
        assert gateway_kernels_of(request.getfixturevalue("gateway"), launcher) == []
