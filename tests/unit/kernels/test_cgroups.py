"""Finding where kernel cgroups go, on fake cgroup trees (real ones need root and a host)."""

import os
import time
from pathlib import Path

import pytest

from pyexec.kernels import cgroups
from pyexec.kernels.cgroups import CgroupHost, KernelCgroup, _own_cgroups

SELF_V1 = "9:name=systemd:/\n8:pids:/\n4:memory:/svc/abc\n1:cpu,cpuacct:/\n0::/\n"


@pytest.fixture(autouse=True)
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 0)


def _v1_tree(root: Path) -> None:
    for controller, own in (("memory", "svc/abc"), ("pids", "")):
        mount = root / controller
        (mount / own).mkdir(parents=True, exist_ok=True)
        (mount / "cgroup.procs").write_text("")


def test_own_cgroups_are_read_per_controller() -> None:
    own = _own_cgroups(SELF_V1)
    assert own["memory"] == "/svc/abc" and own["pids"] == "/" and own[""] == "/"
    assert own["cpuacct"] == "/"


def test_v1_kernel_cgroups_nest_below_our_own(tmp_path: Path) -> None:
    _v1_tree(tmp_path)
    (tmp_path / "self").write_text(SELF_V1)
    host = CgroupHost.detect(tmp_path, tmp_path / "self")
    assert host.version == "v1" and host.memory and host.pids
    assert host.memory_parent == tmp_path / "memory/svc/abc/pyexec-kernels"
    assert host.pids_parent == tmp_path / "pids/pyexec-kernels"
    assert host.describe() == "cgroup v1 memory+pids"

    cgroup = host.create("k1", memory_bytes=512 << 20, max_pids=64)
    memory_dir, pids_dir = cgroup.dirs
    assert (memory_dir / "memory.limit_in_bytes").read_text() == str(512 << 20)
    assert (pids_dir / "pids.max").read_text() == "64"
    assert cgroup.procs_files == [str(d / "cgroup.procs") for d in cgroup.dirs]
    (memory_dir / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert cgroup.oom_kills() == 2


def test_missing_hierarchies_are_reasons_not_errors(tmp_path: Path) -> None:
    (tmp_path / "self").write_text(SELF_V1)
    host = CgroupHost.detect(tmp_path, tmp_path / "self")
    assert not host.memory and not host.pids
    assert "memory" in host.reasons["memory"] and "pids" in host.reasons["pids"]
    assert host.describe() == "none"


def test_not_root_means_no_cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 1000)
    host = CgroupHost.detect(tmp_path, tmp_path / "self")
    assert host.reasons == {"memory": "not running as root", "pids": "not running as root"}


def test_v2_with_controllers_is_preferred(tmp_path: Path) -> None:
    _v1_tree(tmp_path)
    own = tmp_path / "svc.slice"
    own.mkdir()
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.controllers").write_text("memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    (tmp_path / "self").write_text("0::/svc.slice\n")
    host = CgroupHost.detect(tmp_path, tmp_path / "self")
    assert host.version == "v2" and host.memory_parent == host.pids_parent == own / "pyexec-kernels"
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids"

    cgroup = host.create("k2", memory_bytes=1 << 30, max_pids=32)
    (kernel_dir,) = cgroup.dirs
    assert (kernel_dir / "memory.max").read_text() == str(1 << 30)
    assert (kernel_dir / "pids.max").read_text() == "32"
    (kernel_dir / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cgroup.oom_kills() == 1


def test_v2_without_controllers_falls_back_to_v1(tmp_path: Path) -> None:
    # This build machine: a hybrid host whose v2 tree has no controllers.
    _v1_tree(tmp_path)
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified/cgroup.controllers").write_text("")
    (tmp_path / "self").write_text(SELF_V1)
    host = CgroupHost.detect(tmp_path, tmp_path / "self")
    assert host.version == "v1" and host.memory and host.pids


def test_sweep_leaves_cgroups_that_hold_processes(tmp_path: Path) -> None:
    _v1_tree(tmp_path)
    (tmp_path / "self").write_text(SELF_V1)
    host = CgroupHost.detect(tmp_path, tmp_path / "self")
    assert host.pids_parent is not None
    busy, empty = host.pids_parent / "busy", host.pids_parent / "empty"
    busy.mkdir()
    (busy / "cgroup.procs").write_text("1234\n")
    empty.mkdir()  # an empty cgroup (a real one lists its files but can be removed)
    host.sweep()
    assert empty.exists()  # maybe another service's, about to get its kernel
    old = time.time() - 3600
    for d in (busy, empty):
        os.utime(d, (old, old))
    host.sweep()
    assert busy.exists() and not empty.exists()


def test_remove_tolerates_a_cgroup_already_gone(tmp_path: Path) -> None:
    KernelCgroup((tmp_path / "gone",), None).remove()
