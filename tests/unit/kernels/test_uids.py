"""Kernel uids: one per live kernel, exclusive across allocators, purged after a crash."""

import shutil
from pathlib import Path

import pytest

from pyexec.kernels.uids import NoFreeUidError, UidAllocator, purge_command


def test_every_live_kernel_has_its_own_uid(tmp_path: Path) -> None:
    allocator = UidAllocator(300000, 3, tmp_path / "locks")
    leases = [allocator.acquire()[0] for _ in range(3)]
    assert sorted(lease.uid for lease in leases) == [300000, 300001, 300002]
    assert all(lease.gid == lease.uid for lease in leases)
    with pytest.raises(NoFreeUidError, match="all 3 kernel uids are in use"):
        allocator.acquire()
    leases[1].release(clean=True)
    lease, dirty = allocator.acquire()
    assert lease.uid == leases[1].uid and not dirty


def test_another_service_cannot_take_a_uid_in_use(tmp_path: Path) -> None:
    first = UidAllocator(300000, 2, tmp_path)
    second = UidAllocator(300000, 2, tmp_path)  # another process, as far as flock cares
    held, _ = first.acquire()
    other, _ = second.acquire()
    assert other.uid != held.uid
    with pytest.raises(NoFreeUidError):
        second.acquire()


def test_a_uid_left_busy_is_purged_before_reuse(tmp_path: Path) -> None:
    allocator = UidAllocator(300000, 1, tmp_path)
    lease, dirty = allocator.acquire()
    assert not dirty  # never used since boot
    lease.release(clean=True)
    lease, dirty = allocator.acquire()
    assert not dirty
    lease.release(clean=False)  # a crash, or a purge that failed
    _, dirty = allocator.acquire()
    assert dirty


def test_lock_dir_must_be_private(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(PermissionError):
        UidAllocator(300000, 1, shared).acquire()


def test_range_must_be_positive() -> None:
    with pytest.raises(ValueError):
        UidAllocator(0, 10)
    with pytest.raises(ValueError):
        UidAllocator(300000, 0)


def test_purge_kills_as_the_uid_itself() -> None:
    command = purge_command(300001, 300001)
    if shutil.which("setpriv") and shutil.which("kill"):
        assert "--reuid=300001" in command and command[-2:] == ["--", "-1"]
    else:
        assert "os.setresuid(300001, 300001, 300001)" in command[-1]
