"""What the sandbox decides from what the host offers (no processes: the host is faked)."""

from pathlib import Path

from pyexec.kernels.cgroups import CgroupHost
from pyexec.kernels.sandbox import (
    KERNELS_DIR,
    HostSupport,
    KernelLimits,
    Sandbox,
    SandboxPolicy,
)
from pyexec.kernels.uids import UidAllocator, UidLease


def _sandbox(tmp_path: Path, support: HostSupport, **policy: object) -> Sandbox:
    sandbox = Sandbox(SandboxPolicy(**policy), backend="forkserver")  # type: ignore[arg-type]
    sandbox.support = support
    sandbox.work_root = tmp_path / "data/work"
    sandbox.runtime_root = tmp_path / "run"
    return sandbox


def _full_support(tmp_path: Path) -> HostSupport:
    cgroups = CgroupHost(
        version="v1", memory_parent=tmp_path / "cg/memory", pids_parent=tmp_path / "cg/pids"
    )
    return HostSupport(root=True, namespaces=True, bwrap="/usr/bin/bwrap", cgroups=cgroups)


def _pairs(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_base_view_is_an_allow_list(tmp_path: Path) -> None:
    sandbox = _sandbox(tmp_path, _full_support(tmp_path), hidden=(tmp_path / "data",))
    command = sandbox.wrap(["python", "-m", "zygote"])
    assert command[0] == "/usr/bin/bwrap" and command[-3:] == ["python", "-m", "zygote"]
    for flag in ("--unshare-net", "--unshare-ipc", "--die-with-parent"):
        assert flag in command
    ro = _pairs(command, "--ro-bind")
    assert "/usr" in ro and str(KERNELS_DIR) in ro
    assert "/etc/fonts" in ro and "/etc/shadow" not in ro and "/etc" not in ro
    assert not any(p.startswith("/root") and "pyenv" not in p for p in ro)
    rw = _pairs(command, "--bind")
    assert str(tmp_path / "data/work") in rw and str(tmp_path / "run") in rw
    assert str(tmp_path / "cg/memory") in rw and str(tmp_path / "cg/pids") in rw
    assert str(tmp_path / "data") not in rw  # only the work root of the data dir
    assert "--unshare-user" not in command  # as root, kernels enter their jails as root
    # bwrap makes parents of bind mounts 0700: the kernel's uid could not cross them.
    at = command.index(str(tmp_path / "data"))
    assert command[at - 3 : at] == ["--perms", "0755", "--dir"]
    # /tmp is a fresh tmpfs before anything is bound below it.
    assert command.index("--tmpfs") < command.index("--bind")


def test_without_bubblewrap_the_command_runs_as_it_is(tmp_path: Path) -> None:
    support = _full_support(tmp_path)
    support.bwrap = None
    assert _sandbox(tmp_path, support).wrap(["python"]) == ["python"]


def test_jail_of_a_fully_isolated_kernel(tmp_path: Path) -> None:
    limits = KernelLimits(memory_mb=512, processes=64, cpu_seconds=30, file_size_mb=8)
    sandbox = _sandbox(tmp_path, _full_support(tmp_path), limits=limits)
    work_dir, runtime_dir = tmp_path / "data/work/k1", tmp_path / "run/k1"
    jail = sandbox._jail(work_dir, runtime_dir, UidLease(200007, 200007, None), None)
    assert (jail.uid, jail.gid) == (200007, 200007)
    assert jail.new_network and jail.new_mounts and jail.private_proc
    assert jail.rlimits["NPROC"] == [64, 64] and jail.rlimits["CPU"] == [30, 35]
    assert jail.rlimits["FSIZE"] == [8 << 20, 8 << 20] and jail.rlimits["CORE"] == [0, 0]
    assert jail.address_space_mb == 512
    covered = {t.path for t in jail.tmpfs}
    assert {"/tmp", "/dev/shm", str(tmp_path / "data/work"), str(tmp_path / "run")} <= covered
    assert jail.keep == [str(work_dir), str(runtime_dir)]
    assert not jail.new_user and not jail.new_pid  # root: a uid and cgroups of its own


def test_without_bubblewrap_the_jail_hides_a_deny_list(tmp_path: Path) -> None:
    support = _full_support(tmp_path)
    support.bwrap = None
    data = tmp_path / "data"
    data.mkdir()
    sandbox = _sandbox(tmp_path, support, hidden=(data,))
    jail = sandbox._jail(data / "work/k1", tmp_path / "run/k1", None, None)
    covered = {t.path for t in jail.tmpfs}
    assert str(data) in covered and "/root" in covered
    assert "NPROC" not in jail.rlimits  # without a uid of its own it would count the service


def test_isolation_is_full_only_with_everything(tmp_path: Path) -> None:
    sandbox = _sandbox(tmp_path, _full_support(tmp_path))
    sandbox._uids = UidAllocator(200000, 10, tmp_path)
    report = sandbox._assess()
    assert report.level == "full" and not report.missing
    assert set(report.enforced) >= {"uid", "filesystem", "network", "memory_cgroup", "rlimits"}

    sandbox.support.bwrap = None
    sandbox.support.reasons["bwrap"] = "bubblewrap (bwrap) is not installed"
    report = sandbox._assess()
    assert report.level == "partial"
    assert report.missing == {"filesystem_allowlist": "bubblewrap (bwrap) is not installed"}
    assert "NOT enforced: filesystem_allowlist" in report.summary()


def _not_root(userns: bool) -> HostSupport:
    reasons = {"root": "the service does not run as root"}
    if not userns:
        reasons["namespaces"] = "unprivileged user namespaces are unavailable (EPERM)"
    support = HostSupport(
        root=False, namespaces=userns, userns=userns, bwrap="/usr/bin/bwrap" if userns else None
    )
    support.reasons = reasons
    support.cgroups.reasons = {"memory": "not running as root", "pids": "not running as root"}
    return support


def test_not_root_without_user_namespaces_is_minimal_and_says_why(tmp_path: Path) -> None:
    report = _sandbox(tmp_path, _not_root(userns=False))._assess()
    assert report.level == "minimal"
    assert report.missing["uid"] == "the service does not run as root"
    assert report.missing["network"] == "unprivileged user namespaces are unavailable (EPERM)"
    assert report.missing["filesystem"] == report.missing["network"]
    assert report.as_dict()["backend"] == "forkserver"
    assert "every file the service's user can read, the network" in report.reach()


def test_not_root_with_user_namespaces_gets_a_view_and_a_pid_namespace(tmp_path: Path) -> None:
    limits = KernelLimits(processes=64)
    sandbox = _sandbox(tmp_path, _not_root(userns=True), limits=limits)
    report = sandbox._assess()
    assert report.level == "partial"
    assert {"filesystem", "network", "processes"} <= set(report.enforced)
    assert "processes 64" in report.enforced["rlimits"]
    assert set(report.missing) == {"uid", "memory_cgroup", "pids_cgroup"}
    assert "a user namespace of its own" in report.missing["uid"]
    assert "only the interpreter, its packages and its own work dir, no network" in report.reach()
    jail = sandbox._jail(tmp_path / "data/work/k1", tmp_path / "run/k1", None, None)
    assert jail.uid is None and jail.new_user and jail.new_pid and jail.new_network
    # Counted in the kernel's own user namespace: its processes only, not the service's.
    assert jail.rlimits["NPROC"] == [64, 64]
    command = sandbox.wrap(["python"])
    assert "--unshare-user" in command and command.index("--unshare-user") < command.index("--")
    # bubblewrap's own tmpfs is the kernels' (same uid): read-only, or a file one job plants
    # in /etc reaches the next.
    assert _pairs(command, "--remount-ro") == ["/", "/dev"]


def test_an_interpreter_under_a_covered_dir_stays_visible_read_only(tmp_path: Path) -> None:
    # A fresh clone under /tmp: the kernel's private /tmp must not hide its venv (issue 12).
    venv = tmp_path / "clone/.venv"
    (venv / "lib").mkdir(parents=True)
    support = _full_support(tmp_path)
    support.interpreter_paths = [str(venv), str(venv / "lib")]
    sandbox = _sandbox(tmp_path, support)
    jail = sandbox._jail(tmp_path / "data/work/k1", tmp_path / "run/k1", None, None)
    assert str(venv) in jail.keep_readonly and str(venv / "lib") not in jail.keep_readonly
    assert str(venv) not in jail.keep  # never writable
    assert str(venv) in _pairs(sandbox.wrap(["python"]), "--ro-bind")


def test_the_interpreters_paths_are_looked_up_once_per_sandbox(tmp_path: Path) -> None:
    # The same for every kernel, and ~10 realpath calls on the event loop per launch.
    venv = tmp_path / "clone/.venv"
    venv.mkdir(parents=True)
    support = _full_support(tmp_path)
    support.interpreter_paths = [str(venv)]
    sandbox = _sandbox(tmp_path, support)
    first = sandbox._jail(tmp_path / "data/work/k1", tmp_path / "run/k1", None, None)
    venv.rmdir()  # the file system is not looked at again
    second = sandbox._jail(tmp_path / "data/work/k2", tmp_path / "run/k2", None, None)
    assert str(venv) in first.keep_readonly
    assert second.keep_readonly == first.keep_readonly
    assert second.keep == [str(tmp_path / "data/work/k2"), str(tmp_path / "run/k2")]


def test_a_data_dir_inside_a_bound_dir_is_hidden_around_what_it_holds(tmp_path: Path) -> None:
    # The checkout is on the interpreter's path (an old-style editable install); the data
    # dir is inside it and holds the venv too.
    checkout = tmp_path / "co"
    data, venv = checkout / "data", checkout / "data/venv"
    venv.mkdir(parents=True)
    support = _full_support(tmp_path)
    support.interpreter_paths = [str(checkout), str(venv)]
    sandbox = _sandbox(tmp_path, support, hidden=(data,))
    sandbox.work_root = data / "work"
    command = sandbox._bwrap_command("/usr/bin/bwrap", ["python"])
    hide = command.index(str(data))
    assert command[hide - 1] == "--tmpfs"
    assert command.index(str(checkout)) < hide  # bound first, then covered inside
    # Shallower first: the data dir is covered, then the venv and the work root come back.
    venv_at = command.index(str(venv), hide)
    work_at = command.index(str(data / "work"), hide)
    assert command[venv_at - 1] == "--ro-bind" and command[work_at - 1] == "--bind"


def test_sandbox_off_is_reported_as_off_and_says_what_jobs_reach(tmp_path: Path) -> None:
    report = _sandbox(tmp_path, HostSupport(), mode="off")._assess()
    assert report.level == "off"
    assert "NOT sandboxed" in report.reach() and "database" in report.reach()


def test_sandbox_off_is_reported_as_off(tmp_path: Path) -> None:
    report = _sandbox(tmp_path, HostSupport(), mode="off")._assess()
    assert report.level == "off" and report.missing["uid"] == "PYEXEC_KERNEL_SANDBOX=off"
