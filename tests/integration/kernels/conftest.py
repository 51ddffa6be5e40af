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

PoolFactory = Callable[..., KernelPool]

# How long a kernel has to answer an interrupt before it is killed. Not the shortest that
# works: on a loaded machine (CI, two busy loops beside the suite) a kernel's control thread
# took over 1 s to answer, and a healthy kernel was killed.
INTERRUPT_GRACE = 10.0


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


@pytest.fixture
def kernel_processes() -> Callable[[], set[int]]:
    """Pids of ipykernel processes descending from this test process."""
    return _kernel_processes


@pytest.fixture
def make_pool() -> PoolFactory:
    """KernelPool(work_root, **overrides) with test defaults (size 2, LocalLauncher)."""
    return _make_pool


@pytest_asyncio.fixture(
    loop_scope="module", scope="module", params=["local", "forkserver-sandboxed"]
)
async def shared_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[KernelPool]:
    """One pool per module and backend: every test still leases its own fresh kernel from it.

    The fork server runs with the default sandbox policy: as root that is a uid of its own,
    namespaces and limits per kernel, so every execution test also runs inside the jail.
    """
    work = tmp_path_factory.mktemp("work")
    launcher: KernelLauncher = LocalLauncher()
    if request.param == "forkserver-sandboxed":
        launcher = ForkServerLauncher(sandbox=SandboxPolicy(hidden=(work,)))
    pool = _make_pool(work, launcher=launcher)
    await pool.start()
    await pool.wait_ready(timeout=120)
    yield pool
    await pool.close()
