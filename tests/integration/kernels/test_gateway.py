"""Kernels on a real Enterprise Gateway: fresh per lease and deleted after it, a clean
environment, files in and out over the kernel's own channel, deaths the gateway reports."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from pyexec.kernels import FileUnavailableError, KernelPool
from pyexec.kernels.gateway import GatewayKernel, GatewayLauncher
from tests.integration.kernels.conftest import (
    GATEWAY_INTERRUPT_GRACE,
    gateway_kernels_of,
    gateway_launcher,
)
from tests.support.processes import eventually
from tests.support.services import EnterpriseGateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pool(
    gateway: EnterpriseGateway, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[KernelPool]:
    launcher = gateway_launcher(gateway)
    pool = KernelPool(
        size=2,
        launcher=launcher,
        work_root=tmp_path_factory.mktemp("work"),
        start_timeout=60,
        interrupt_grace=GATEWAY_INTERRUPT_GRACE,
    )
    await pool.start()
    await pool.wait_ready(timeout=120)
    yield pool
    await pool.close()
    assert gateway_kernels_of(gateway, launcher) == []


def ids(gateway: EnterpriseGateway) -> set[str]:
    return {str(k["id"]) for k in gateway.kernels()}


def gateway_id(kernel: object) -> str:
    launched = kernel.launched  # type: ignore[attr-defined]
    assert isinstance(launched, GatewayKernel)
    return launched.gateway_id


async def output(kernel: object, code: str, timeout: float = 30) -> str:
    ex = await kernel.execute(code, timeout=timeout)  # type: ignore[attr-defined]
    assert ex.status == "ok", ex.error
    return "".join(o.get("text", "") for o in ex.outputs if o["output_type"] == "stream")


async def test_each_lease_is_a_fresh_gateway_kernel_deleted_after_use(
    pool: KernelPool, gateway: EnterpriseGateway
) -> None:
    async with pool.lease() as first:
        first_id = gateway_id(first)
        assert first_id in ids(gateway)
        await output(first, "secret = 42\nopen('note.txt', 'w').write('hi')")
    await eventually(lambda: first_id not in ids(gateway), timeout=30)

    async with pool.lease() as second:
        assert gateway_id(second) != first_id
        ex = await second.execute("secret", timeout=10)
        assert ex.error is not None and ex.error.ename == "NameError"
        assert await output(second, "import os\nprint(os.path.exists('note.txt'))") == "False\n"


async def test_the_kernel_sees_nothing_of_the_gateway_or_the_service(
    pool: KernelPool, gateway: EnterpriseGateway
) -> None:
    launcher = pool.launcher
    assert isinstance(launcher, GatewayLauncher)
    async with pool.lease() as kernel:
        printed = await output(
            kernel,
            "import os, json, tempfile\n"
            "print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd(), "
            "'tmp': tempfile.gettempdir()}))",
        )
    seen = json.loads(printed)
    env = seen["env"]
    assert gateway.token not in printed  # the gateway's EG_AUTH_TOKEN
    assert not [k for k in env if k.startswith(("EG_", "PYEXEC_", "JUPYTER_"))]
    assert env["HOME"] == seen["cwd"]
    assert seen["tmp"].startswith(seen["cwd"])
    assert seen["cwd"].startswith(str(gateway.kernel_work_root))
    assert env["KERNEL_PYEXEC_WORKER"] == launcher.worker_id
    assert env["KERNEL_USERNAME"] == "pyexec"
    assert "inline" in env["MPLBACKEND"]  # ipykernel's own choice, as on local kernels


async def test_files_travel_over_the_kernels_channel(pool: KernelPool, tmp_path: Path) -> None:
    small = tmp_path / "sales.csv"
    small.write_text("region,amount\nnorth,10\nsouth,20\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024 + 123))  # several chunks each way
    async with pool.lease() as kernel:
        assert await kernel.files.put("sales.csv", small) == small.stat().st_size
        assert await kernel.files.put("big.bin", big) == big.stat().st_size
        printed = await output(
            kernel,
            "import hashlib, os, stat\n"
            "print(hashlib.sha256(open('big.bin', 'rb').read()).hexdigest())\n"
            "print(oct(stat.S_IMODE(os.stat('sales.csv').st_mode)))\n"
            "os.makedirs('out/deep', exist_ok=True)\n"
            "open('out/deep/result.csv', 'w').write(open('sales.csv').read().upper())\n"
            "open('written.bin', 'wb').write(os.urandom(9 * 1024 * 1024))\n"
            "open('empty.txt', 'w').close()\n"
            "os.symlink('/etc/passwd', 'link.txt')\n"
            "os.mkfifo('pipe')\n"
            "open('twice.txt', 'w').write('x'); os.link('twice.txt', 'twice-again.txt')\n"
            "open('.hidden', 'w').write('no')\n"
            "print(hashlib.sha256(open('written.bin', 'rb').read()).hexdigest())",
        )
        big_sum, mode, written_sum = printed.split()
        assert big_sum == hashlib.sha256(big.read_bytes()).hexdigest()
        assert mode == "0o444"

        async with kernel.files.collect(exclude={"sales.csv", "big.bin"}) as collected:
            names = {f.name: f.bytes for f in collected.files}
            assert names == {
                "empty.txt": 0,
                "out/deep/result.csv": small.stat().st_size,
                "written.bin": 9 * 1024 * 1024,
            }
            assert sorted(s.split(":")[0] for s in collected.skipped) == [
                "link.txt",
                "pipe",
                "twice-again.txt",
                "twice.txt",
            ]
            contents = {}
            for found in collected.files:
                async with collected.open(found) as source:
                    contents[found.name] = await asyncio.to_thread(source.read)
        assert contents["out/deep/result.csv"] == small.read_text().upper().encode()
        assert hashlib.sha256(contents["written.bin"]).hexdigest() == written_sum
        assert contents["empty.txt"] == b""
        # Collecting ends the job's code: the kernel is deleted.
        assert not await kernel.is_alive()


async def test_inputs_never_overwrite_and_names_stay_plain(
    pool: KernelPool, tmp_path: Path
) -> None:
    source = tmp_path / "data.csv"
    source.write_text("a\n1\n")
    async with pool.lease() as kernel:
        await kernel.files.put("data.csv", source)
        with pytest.raises(FileUnavailableError, match="already exists"):
            await kernel.files.put("data.csv", source)
        for bad in ("../escape.csv", "dir/data.csv", ".."):
            with pytest.raises(FileUnavailableError, match="not a plain file name"):
                await kernel.files.put(bad, source)
        assert await output(kernel, "print(open('data.csv').read(), end='')") == "a\n1\n"


async def test_a_kernel_deleted_behind_the_pools_back_is_replaced_not_lent(
    pool: KernelPool, gateway: EnterpriseGateway
) -> None:
    await eventually(lambda: pool.stats["idle"] == 2, timeout=60)
    started = pool.stats["started_total"]
    victims = [gateway_id(k) for k in list(pool._idle)]
    for victim in victims:
        assert gateway.delete_kernel(victim) == 204
    async with pool.lease() as kernel:
        assert gateway_id(kernel) not in victims
        assert await output(kernel, "print('fresh')") == "fresh\n"
    # Both are replaced: the one the lease found, and the other (by the lease or the watcher).
    await eventually(lambda: pool.stats["started_total"] >= started + 2, timeout=60)


async def test_a_kernel_deleted_mid_cell_fails_the_cell_and_says_so(
    pool: KernelPool, gateway: EnterpriseGateway
) -> None:
    async with pool.lease() as kernel:
        task = asyncio.create_task(kernel.execute("import time\ntime.sleep(600)", timeout=120))
        await asyncio.sleep(0.5)
        assert gateway.delete_kernel(gateway_id(kernel)) == 204
        ex = await asyncio.wait_for(task, timeout=30)
    assert ex.status == "died" and ex.error is not None
    assert ex.error.message.startswith("kernel died: the gateway")


async def test_isolation_names_the_gateway_without_its_token(
    pool: KernelPool, gateway: EnterpriseGateway
) -> None:
    isolation = pool.launcher.isolation
    assert isolation is not None
    report = isolation.as_dict()
    assert report["backend"] == "gateway" and report["level"] == "delegated"
    assert report["gateway_url"] == gateway.url
    assert report["gateway_version"] == "3.3.0"
    assert "the gateway's" in report["enforced"]["isolation"]  # type: ignore[index]
    assert gateway.token not in isolation.summary() + str(report)


async def test_files_pass_through_a_shared_volume_when_one_is_configured(
    gateway: EnterpriseGateway, tmp_path: Path
) -> None:
    # The worker and the (local) kernels see the volume at the same path here.
    work = tmp_path / "shared"
    launcher = gateway_launcher(gateway, kernel_work_root=str(work), worker_work_root=work)
    source = tmp_path / "sales.csv"
    source.write_text("region,amount\nnorth,10\n")
    async with KernelPool(size=1, launcher=launcher, work_root=work) as pool:
        async with pool.lease() as kernel:
            assert await kernel.files.put("sales.csv", source) == source.stat().st_size
            cwd = await output(
                kernel,
                "import os\nopen('out.csv', 'w').write(open('sales.csv').read().upper())\n"
                "os.symlink('/etc/passwd', 'leak.txt')\nprint(os.getcwd(), end='')",
            )
            assert cwd == str(kernel.work_dir)
            async with kernel.files.collect(exclude={"sales.csv"}) as collected:
                # Read from the volume once the gateway has deleted the kernel.
                assert not await kernel.is_alive()
                assert gateway_id(kernel) not in ids(gateway)
                assert [f.name for f in collected.files] == ["out.csv"]
                assert collected.skipped == ["leak.txt: not kept: a symbolic link"]
                async with collected.open(collected.files[0]) as handle:
                    assert handle.read() == b"REGION,AMOUNT\nNORTH,10\n"
        assert pool.launcher.isolation.as_dict()["files"] == "shared volume"  # type: ignore[union-attr]
    assert gateway_kernels_of(gateway, launcher) == []
