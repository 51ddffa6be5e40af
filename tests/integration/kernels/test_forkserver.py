"""The fork server: warm kernels forked from a zygote, process control through the zygote."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
import pytest_asyncio
from jupyter_client.connect import write_connection_file

from pyexec.kernels import ForkServerLauncher, KernelPool
from pyexec.kernels.forkserver import ForkServer
from pyexec.kernels.jail import JAIL_FAILED_EXIT, Jail
from tests.support.processes import eventually, gone

pytestmark = pytest.mark.asyncio(loop_scope="module")

INTERRUPT_GRACE = 1.0


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fork_pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KernelPool]:
    # No sandbox policy: what is tested here holds on any Linux host, root or not.
    launcher = ForkServerLauncher()
    pool = KernelPool(
        size=2,
        launcher=launcher,
        work_root=tmp_path_factory.mktemp("work"),
        interrupt_grace=INTERRUPT_GRACE,
    )
    await pool.start()
    await pool.wait_ready(timeout=120)
    yield pool
    await pool.close()


def _launcher(pool: KernelPool) -> ForkServerLauncher:
    assert isinstance(pool.launcher, ForkServerLauncher)
    return pool.launcher


async def test_forked_kernels_are_warm_fresh_and_independent(fork_pool: KernelPool) -> None:
    async with fork_pool.lease() as first, fork_pool.lease() as second:
        code = (
            "import sys\nwarm = 'pandas' in sys.modules\n"
            "import numpy as np, random\n(warm, np.random.randint(10**9), random.random())"
        )
        one = await first.execute(code, timeout=10)
        two = await second.execute(code, timeout=10)
        mine = await first.execute("secret = 1\nimport os\nos.getcwd()", timeout=10)
        theirs = await second.execute("secret", timeout=10)

    assert one.execution_count == 1  # the warm-up ran silently, before the kernel answered
    warm, numpy_draw, random_draw = eval(one.outputs[0]["data"]["text/plain"])
    warm2, numpy_draw2, random_draw2 = eval(two.outputs[0]["data"]["text/plain"])
    assert warm and warm2
    # fork copies generator state: each child must reseed, or both draw the same numbers.
    assert (numpy_draw, random_draw) != (numpy_draw2, random_draw2)
    assert mine.outputs[0]["data"]["text/plain"] == repr(str(first.work_dir))
    assert theirs.error is not None and theirs.error.ename == "NameError"


# What a kernel's IPython shell took from its process, checked in the kernel: the zygote builds
# the shell once (child.prebuild_shell) and each child must make its copy its own.
SHELL_PROBE = """\
import os, sys
from pathlib import Path
from IPython.paths import get_ipython_dir
ip = get_ipython()
{
    "kernel": ip.kernel is not None and ip.parent is ip.kernel,
    "iopub": ip.displayhook.pub_socket is ip.kernel.iopub_socket,
    "cwd": ip.starting_dir == os.getcwd() and [str(d) for d in _dh] == [os.getcwd()],
    "home": ip.ipython_dir == get_ipython_dir()
    and Path(ip.profile_dir.location).is_relative_to(os.environ["HOME"]),
    "environment": os.environ.get("PAGER"),
    "streams": ip._orig_sys_module_state["stdout"] is sys.stdout,
    "history": (len(In), sorted(Out)),
    "names": sorted(n for n in ip.user_ns if not n.startswith("_") and n not in ip.user_ns_hidden),
}
"""


async def test_each_kernel_makes_the_zygotes_shell_its_own(fork_pool: KernelPool) -> None:
    async with fork_pool.lease() as first, fork_pool.lease() as second:
        await first.execute("secret = 1\nsecret", timeout=10)
        await first.execute("get_ipython().user_ns['planted'] = True", timeout=10)
        mine = await first.execute(SHELL_PROBE, timeout=10)
        theirs = await second.execute(SHELL_PROBE, timeout=10)

    expected = {
        "kernel": True,
        "iopub": True,
        "cwd": True,
        "home": True,
        "environment": "cat",
        "streams": True,
    }
    mine_seen = eval(mine.outputs[0]["data"]["text/plain"])
    theirs_seen = eval(theirs.outputs[0]["data"]["text/plain"])
    assert {k: mine_seen[k] for k in expected} == expected
    assert {k: theirs_seen[k] for k in expected} == expected
    # The first kernel's cells and names are its own: the second starts from an empty shell.
    assert mine_seen["history"] == (4, [1])
    assert "secret" in mine_seen["names"] and "planted" in mine_seen["names"]
    assert theirs_seen["history"] == (2, [])
    assert not {"secret", "planted"} & set(theirs_seen["names"])


async def test_kernels_are_children_of_the_zygote_each_in_its_own_session(
    fork_pool: KernelPool,
) -> None:
    zygote = _launcher(fork_pool).zygote_pid
    assert zygote is not None
    async with fork_pool.lease() as kernel:
        pid = kernel.launched.pid  # type: ignore[attr-defined]
        assert psutil.Process(pid).ppid() == zygote
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid
    await eventually(lambda: gone(pid))


async def test_zygote_holds_no_thread(fork_pool: KernelPool) -> None:
    # A thread (or ZeroMQ's I/O threads) in the zygote would be half-copied into every fork.
    zygote = _launcher(fork_pool).zygote_pid
    tasks = len(os.listdir(f"/proc/{zygote}/task"))
    assert tasks == _launcher(fork_pool).server.info["threads"]  # type: ignore[union-attr]
    # numpy's OpenBLAS may start one native worker at import; nothing of Python's.
    assert tasks <= 2


async def test_release_kills_the_kernels_process_group(fork_pool: KernelPool) -> None:
    async with fork_pool.lease() as kernel:
        ex = await kernel.execute(
            "import subprocess\nsubprocess.Popen(['sleep', '1000']).pid", timeout=10
        )
        child = int(ex.outputs[0]["data"]["text/plain"])
        assert not gone(child)
    await eventually(lambda: gone(child))


async def test_killing_the_zygote_kills_its_kernels_and_it_comes_back(
    fork_pool: KernelPool,
) -> None:
    launcher = _launcher(fork_pool)
    server = launcher.server
    assert server is not None
    zygote, restarts = launcher.zygote_pid, server.restarts
    assert zygote is not None
    async with fork_pool.lease() as kernel:
        running = asyncio.create_task(kernel.execute("import time\ntime.sleep(60)", timeout=60))
        await asyncio.sleep(0.3)
        os.kill(zygote, signal.SIGKILL)
        ex = await asyncio.wait_for(running, timeout=10)
    assert ex.status == "died"
    await eventually(lambda: server.restarts == restarts + 1)
    async with fork_pool.lease() as kernel:
        assert (await kernel.execute("21 * 2", timeout=30)).outputs[0]["data"]["text/plain"] == (
            "42"
        )
    assert launcher.zygote_pid not in (None, zygote)


async def test_a_zygote_killed_just_before_a_launch_is_replaced_not_reported(
    server: ForkServer,
) -> None:
    # Launch while the dead zygote is not yet reaped, and while its answer is pending:
    # both must end in a kernel from a fresh zygote, never in a failed start. (A zygote of
    # its own: killing a pool's zygote mid-fork can orphan the pool's kernel being forked.)
    await server.start()
    for _ in range(3):
        zygote = server.pid
        assert zygote is not None
        os.kill(zygote, signal.SIGKILL)
        with tempfile.TemporaryDirectory() as tmp:
            pids = await asyncio.wait_for(
                asyncio.gather(
                    *(_spawn(server, tmp, Jail(work_dir=tmp), f"k{i}") for i in range(3))
                ),
                timeout=120,
            )
            assert server.pid not in (None, zygote)
            assert {psutil.Process(pid).ppid() for pid in pids} == {server.pid}
            for pid in pids:
                await server.signal(pid, signal.SIGKILL)
                await asyncio.wait_for(server.wait(pid), timeout=10)
                server.forget(pid)


@pytest_asyncio.fixture(loop_scope="module")
async def server() -> AsyncIterator[ForkServer]:
    server = ForkServer()
    try:
        yield server
    finally:
        await server.close()


def _connection_file(directory: str, name: str = "k") -> str:
    path = os.path.join(directory, f"{name}.json")
    ports = dict(shell_port=1, iopub_port=2, stdin_port=3, hb_port=4, control_port=5)
    write_connection_file(path, transport="ipc", ip=os.path.join(directory, name), **ports)
    return path


async def _spawn(server: ForkServer, directory: str, jail: Jail, name: str = "k") -> int:
    """A kernel forked straight from the zygote, without a pool, working in `directory`."""
    return await server.spawn(
        kernel_id=name,
        connection_file=_connection_file(directory, name),
        cwd=directory,
        env={"PATH": "/usr/bin:/bin"},
        jail=jail.to_json(),
        log_file=None,
    )


async def test_a_kernel_that_cannot_enter_its_jail_says_why(server: ForkServer) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pid = await _spawn(server, tmp, Jail(work_dir=os.path.join(tmp, "missing")))
        assert await asyncio.wait_for(server.wait(pid), timeout=30) == JAIL_FAILED_EXIT
        await eventually(lambda: server.setup_error(pid) is not None)
    assert "cannot enter the kernel sandbox (work dir)" in str(server.setup_error(pid))


async def test_a_dead_zygotes_kernels_are_dead_before_its_eof_is_read(server: ForkServer) -> None:
    # A loaded machine reads the dead zygote's EOF late; meanwhile its kernels must not pass
    # for alive (a pool would lend one, and the job's first cell would find it dead).
    with tempfile.TemporaryDirectory() as tmp:
        pid = await _spawn(server, tmp, Jail(work_dir=tmp))
        zygote = server.pid
        assert zygote is not None and server.exit_status(pid) is None
        os.kill(zygote, signal.SIGKILL)
        # Without awaiting: the event loop, and so the reader of the zygote's connection,
        # never runs here. From the moment its main thread is a zombie (and its kernels are
        # killed), not only once its last thread has torn the address space down 10-20 ms
        # later (which is when its pidfd reads): checked at once, without sleeping.
        deadline = time.monotonic() + 10
        while not gone(zygote):
            assert time.monotonic() < deadline
        assert server.exit_status(pid) == -signal.SIGKILL
        assert server.pid is None
        await asyncio.wait_for(server.wait(pid), timeout=10)
        server.forget(pid)
        await server.start()
        assert server.pid not in (None, zygote)


async def test_a_kernel_the_zygote_cannot_put_in_its_cgroups_never_serves(
    server: ForkServer,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        jail = Jail(work_dir=tmp, cgroup_procs=[os.path.join(tmp, "gone", "cgroup.procs")])
        pid = await _spawn(server, tmp, jail)
        assert await asyncio.wait_for(server.wait(pid), timeout=30) == JAIL_FAILED_EXIT
        await eventually(lambda: server.setup_error(pid) is not None)
    assert "cannot enter the kernel sandbox (join cgroups)" in str(server.setup_error(pid))


async def test_only_live_children_can_be_signalled(server: ForkServer) -> None:
    await server.start()
    # Never some other process (here: pid 1, or ourselves), whatever the pid asked for.
    assert not await server.signal(1, signal.SIGKILL)
    assert not await server.signal(os.getpid(), signal.SIGKILL)


async def test_closing_stops_the_zygote(tmp_path: Path) -> None:
    launcher = ForkServerLauncher()
    async with KernelPool(size=1, launcher=launcher, work_root=tmp_path) as pool:
        await pool.wait_ready(timeout=120)
        zygote = launcher.zygote_pid
        assert zygote is not None and not gone(zygote)
    await eventually(lambda: gone(zygote))
