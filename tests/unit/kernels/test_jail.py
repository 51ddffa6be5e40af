"""The jail a kernel enters: plain data that survives JSON, and the launcher's command line."""

import os
import sys
from pathlib import Path

import pytest

from pyexec.kernels.jail import JAIL_FAILED_EXIT, Jail, Tmpfs, _mount_ops, jail_path, main


def test_jail_round_trips_through_json() -> None:
    jail = Jail(
        work_dir="/w/k1",
        uid=200001,
        gid=200001,
        cgroup_procs=["/sys/fs/cgroup/pids/x/k1/cgroup.procs"],
        new_network=True,
        new_mounts=True,
        tmpfs=[Tmpfs("/tmp", 64, 0o1777), Tmpfs("/w", 1)],
        keep=["/w/k1"],
        keep_readonly=["/tmp/clone/.venv"],
        new_user=True,
        new_pid=True,
        report_fd=7,
        private_proc=True,
        rlimits={"CPU": [10, 15], "NPROC": [64, 64]},
        address_space_mb=512,
    )
    assert Jail.from_json(jail.to_json()) == jail


def test_the_jail_sits_beside_the_connection_file(tmp_path: Path) -> None:
    assert jail_path(tmp_path / "kernel.json") == tmp_path / "jail.json"


def test_launcher_rejects_a_bad_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["only-a-connection-file"]) == 2
    assert "usage" in capsys.readouterr().err


def test_launcher_reports_a_jail_it_cannot_enter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A work dir that does not exist: the last step fails, before anything is exec'd.
    jail_path(tmp_path / "kernel.json").write_text(Jail(work_dir=str(tmp_path / "gone")).to_json())
    pid = os.fork()
    if pid == 0:  # entering a jail changes the process for good: do it in a child
        code = main([str(tmp_path / "kernel.json"), "--", sys.executable, "-c", "pass"])
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == JAIL_FAILED_EXIT


def test_mounts_go_shallowest_first_so_a_hidden_dir_inside_a_kept_one_stays_hidden() -> None:
    # A checkout under /tmp whose data dir is inside it, without bubblewrap.
    jail = Jail(
        work_dir="/tmp/co/data/work/k1",
        tmpfs=[Tmpfs("/tmp/co/data", 1), Tmpfs("/tmp", 64), Tmpfs("/tmp/co/data/work", 1)],
        keep=["/tmp/co/data/work/k1"],
        keep_readonly=["/tmp/co"],
    )
    assert [(kind, path) for kind, path, _ in _mount_ops(jail)] == [
        ("tmpfs", "/tmp"),
        ("keep_readonly", "/tmp/co"),
        ("tmpfs", "/tmp/co/data"),
        ("tmpfs", "/tmp/co/data/work"),
        ("keep", "/tmp/co/data/work/k1"),
    ]
