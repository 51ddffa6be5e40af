"""Each kernel in its jail, on both backends: own uid, own view, no network, limits, cleanup.

Needs root (uids, namespaces) and, for the view, bubblewrap: a test whose feature the host
lacks skips with the reason the sandbox itself gives. CI runs as root and runs them all.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
import pytest_asyncio

from pyexec.kernels import (
    ForkServerLauncher,
    Kernel,
    KernelLimits,
    KernelPool,
    LocalLauncher,
    SandboxPolicy,
)
from tests.support.processes import eventually, gone

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(os.geteuid() != 0, reason="kernel sandboxing needs root"),
]

UIDS = range(210000, 210050)  # not the default range: a service running beside us keeps its own
LIMITS = KernelLimits(memory_mb=384, processes=96, cpu_seconds=60, file_size_mb=16, tmp_mb=32)


@pytest_asyncio.fixture(loop_scope="module", scope="module", params=["forkserver", "local"])
async def pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[KernelPool]:
    # Laid out like the service's data dir: a database beside the kernels' work root.
    data = tmp_path_factory.mktemp("data")
    (data / "pyexec.db").write_text("SQLite format 3 -- the service's secrets")
    policy = SandboxPolicy(uid_first=UIDS.start, uid_count=len(UIDS), limits=LIMITS, hidden=(data,))
    launcher_class = ForkServerLauncher if request.param == "forkserver" else LocalLauncher
    launcher = launcher_class(sandbox=policy)
    pool = KernelPool(size=2, launcher=launcher, work_root=data / "work", interrupt_grace=1)
    await pool.start()
    await pool.wait_ready(timeout=120)
    yield pool
    await pool.close()


def need(pool: KernelPool, *features: str) -> None:
    isolation = pool.launcher.isolation
    assert isolation is not None
    for feature in features:
        if feature in isolation.missing:
            pytest.skip(f"{feature}: {isolation.missing[feature]}")


async def run(kernel: Kernel, code: str, timeout: float = 30) -> str:
    ex = await kernel.execute(code, timeout=timeout)
    assert ex.status == "ok", ex.error
    return "".join(o.get("text", "") for o in ex.outputs if o["output_type"] == "stream")


async def test_isolation_is_reported(pool: KernelPool) -> None:
    isolation = pool.launcher.isolation
    assert isolation is not None
    assert isolation.backend == pool.launcher.backend  # type: ignore[attr-defined]
    assert {"environment", "rlimits", "session"} <= set(isolation.enforced)
    if shutil.which("bwrap") and not isolation.missing:
        assert isolation.level == "full"


async def test_each_kernel_is_its_own_unprivileged_user(pool: KernelPool) -> None:
    need(pool, "uid")
    code = (
        "import os\nstatus = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print(os.getuid(), os.getgid(), os.getgroups(), status['CapEff'].strip(), "
        "status['NoNewPrivs'].strip())"
    )
    async with pool.lease() as one, pool.lease() as two:
        first, second = (await run(one, code)).split(" ", 2), (await run(two, code)).split(" ", 2)
    assert int(first[0]) in UIDS and int(second[0]) in UIDS and first[0] != second[0]
    assert first[1] == first[0]  # its own group too
    assert first[2] == "[] 0000000000000000 1\n"  # no groups, no capabilities, no way back


async def test_a_kernel_sees_only_its_own_files(pool: KernelPool) -> None:
    need(pool, "uid", "filesystem")
    work_root, pool_dir = pool.work_root, pool.work_dir_root
    async with pool.lease() as victim, pool.lease() as attacker:
        await run(victim, "open('secret.txt', 'w').write('s3cret')")
        out = await run(
            attacker,
            "import os\nfor path in [{victim!r}, {db!r}, {data!r}, '/root', {pool!r}]:\n"
            "    try:\n        print(path, os.listdir(path) if os.path.isdir(path) else "
            "open(path).read())\n"
            "    except OSError as e:\n        print(path, type(e).__name__)".format(
                victim=str(victim.work_dir / "secret.txt"),
                db=str(work_root.parent / "pyexec.db"),
                data=str(work_root.parent),
                pool=str(pool_dir),
            ),
        )
    lines = out.splitlines()
    assert lines[0].endswith("FileNotFoundError")  # another job's file is not even there
    assert lines[1].endswith("FileNotFoundError")  # nor the service's database
    assert "s3cret" not in out and "SQLite" not in out
    # The data dir shows nothing but the way to the kernel's own work dir.
    assert lines[2] == f"{work_root.parent} ['work']"
    # /root holds at most the way to the interpreter (pyenv lives there on the build hosts).
    interpreter = Path(sys.base_prefix)
    visible = [interpreter.parts[2]] if interpreter.parts[1:2] == ("root",) else []
    assert lines[3] in ("/root FileNotFoundError", f"/root {visible}")
    # The pool's own dir in the work root (kernels.workroot) shows the kernel's dir only.
    assert lines[4] == f"{pool_dir} [{attacker.id!r}]"


async def test_service_processes_and_environment_are_invisible(pool: KernelPool) -> None:
    need(pool, "filesystem")
    async with pool.lease() as kernel:
        out = await run(
            kernel,
            "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            f"try:\n    open('/proc/{os.getpid()}/environ').read()\n    print('read')\n"
            "except OSError as e:\n    print(type(e).__name__)\n"
            "print(all(os.stat(f'/proc/{p}').st_uid == os.getuid() for p in pids))",
        )
    assert out == "FileNotFoundError\nTrue\n"


async def test_no_network_not_even_loopback(pool: KernelPool) -> None:
    need(pool, "network")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        async with pool.lease() as kernel:
            out = await run(
                kernel,
                "import socket\ntry:\n"
                f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                "    print('connected')\nexcept OSError as e:\n    print(e.errno)",
            )
    assert out.strip() == "101"  # ENETUNREACH: no interface is even up


async def test_limits_are_set(pool: KernelPool) -> None:
    need(pool, "uid")
    async with pool.lease() as kernel:
        out = await run(
            kernel,
            "import resource as r\nfor n in ('NPROC', 'FSIZE', 'NOFILE', 'CPU', 'CORE'):\n"
            "    print(n, *r.getrlimit(getattr(r, 'RLIMIT_' + n)))\n"
            "try:\n    open('big', 'wb').write(b'x' * (17 << 20))\n"
            "except OSError as e:\n    print(e.strerror)",
        )
    assert out.splitlines() == [
        "NPROC 96 96",
        f"FSIZE {16 << 20} {16 << 20}",
        "NOFILE 1024 1024",
        "CPU 60 65",
        "CORE 0 0",
        "File too large",
    ]


async def test_memory_bomb_is_contained(pool: KernelPool) -> None:
    need(pool, "memory_cgroup")
    async with pool.lease() as kernel:
        ex = await kernel.execute(
            "chunks = []\nfor _ in range(64):\n    chunks.append(bytearray(32 << 20))", timeout=60
        )
    assert ex.status in ("error", "died") and ex.error is not None
    assert ex.error.message.startswith(("MemoryError", "kernel died: out of memory (limit 384"))


async def test_the_kernel_runs_in_its_own_cgroups(pool: KernelPool) -> None:
    need(pool, "memory_cgroup", "pids_cgroup")
    async with pool.lease() as kernel:
        # Read before any code of the job: the very first cell already counts against them.
        lines = (await run(kernel, "print(open('/proc/self/cgroup').read())")).splitlines()
    own = {
        controller: path
        for _, controllers, path in (line.split(":", 2) for line in lines if line)
        for controller in controllers.split(",")
    }
    assert own["memory"].endswith(f"/{kernel.id}"), own
    assert own["pids"].endswith(f"/{kernel.id}"), own


async def test_files_pass_between_the_service_and_the_kernel(
    pool: KernelPool, tmp_path: Path
) -> None:
    need(pool, "uid")
    source = tmp_path / "input.csv"
    source.write_text("a,b\n1,2\n")
    async with pool.lease() as kernel:
        await kernel.files.put("input.csv", source)
        out = await run(
            kernel,
            "import pandas as pd\nprint(pd.read_csv('input.csv').b.sum())\n"
            "try:\n    open('input.csv', 'a')\nexcept OSError as e:\n    print(e.strerror)",
        )
        assert out == "2\nPermission denied\n"  # read-only for the job
        await run(kernel, "open('result.txt', 'w').write('from the kernel')")
        result = kernel.work_dir / "result.txt"
        assert result.stat().st_uid in UIDS
        assert stat.S_IMODE(kernel.work_dir.stat().st_mode) == 0o700
        async with kernel.files.collect(exclude={"input.csv"}) as collected:
            assert not await kernel.is_alive()  # stopped before anything is read
            assert [f.name for f in collected.files] == ["result.txt"]
            async with collected.open(collected.files[0]) as f:
                assert f.read() == b"from the kernel"


async def test_a_ready_kernel_can_no_longer_touch_its_sockets(pool: KernelPool) -> None:
    need(pool, "uid")
    async with pool.lease() as kernel:
        out = await run(
            kernel,
            "import os\nfrom ipykernel.kernelapp import IPKernelApp\n"
            "sockets = os.path.dirname(IPKernelApp.instance().connection_file)\n"
            "try:\n    os.listdir(sockets)\nexcept OSError as e:\n    print(e.strerror)",
        )
    # Else it could swap a socket for a symlink that the service (root) would follow.
    assert out == "Permission denied\n"


async def test_what_a_kernel_leaves_running_dies_with_it(pool: KernelPool) -> None:
    need(pool, "uid")
    async with pool.lease() as kernel:
        out = await run(
            kernel,
            "import os, subprocess, threading, time\n"
            "daemon = subprocess.Popen(['sleep', '3131'], start_new_session=True)\n"
            "threading.Thread(target=time.sleep, args=(3131,)).start()\n"
            "print(os.getuid(), daemon.pid)",
        )
        uid, daemon = (int(x) for x in out.split())
        assert not gone(daemon)
    # Out of the kernel's process group and session, and still gone: its uid was emptied.
    await eventually(lambda: gone(daemon))
    await eventually(lambda: uid not in _running_uids())


def _running_uids() -> set[int]:
    uids = set()
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                uids.add(process.uids().real)
        except psutil.Error:
            continue
    return uids
