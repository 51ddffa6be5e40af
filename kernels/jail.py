"""What a kernel process does to itself, before the kernel starts: enter its `Jail`.

The service decides the jail (`kernels.sandbox`); the kernel process applies it to itself,
in this order: join its cgroups, start its own session, leave the namespaces of the service
(network, mounts, IPC; as a normal user also a user and a PID namespace of its own), build its
private view of the file system, set its resource limits, drop every privilege (its own
unprivileged uid as root; its capabilities in its user namespace otherwise), and move into its
work dir.

With a PID namespace of its own (`Jail.new_pid`, as a normal user), the process that enters
the jail forks: the child is the namespace's first process and becomes the kernel; the parent
stays outside, only waits for it and then exits the same way. When the first process of a PID
namespace dies, Linux kills every other process in it and reaps them before the first one is
reported dead: so "the kernel's first process is gone" means "every process the kernel started
is gone", without a uid or a cgroup of its own. The parent writes the kernel's pid (as the
service sees it) to `Jail.report_fd`, so that the service can wait for exactly that.

Both backends run this same code: a fork-server child calls `enter` right after the fork; the
local backend's launcher (`python -m kernels.jail`, or the installable kernelspec's
`kernelspecs/pyexec-python/launch.py`) calls `main`, which enters the jail and then execs the
kernel. Stdlib only: it runs in the kernel's process.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn

from pyexec.kernels import linux

# The jail of a kernel sits beside its connection file, in the kernel's runtime dir.
JAIL_FILENAME = "jail.json"
# What a kernel process exits with when it could not enter its jail.
JAIL_FAILED_EXIT = 70

RLIMITS = {
    "AS": resource.RLIMIT_AS,
    "CORE": resource.RLIMIT_CORE,
    "CPU": resource.RLIMIT_CPU,
    "FSIZE": resource.RLIMIT_FSIZE,
    "NOFILE": resource.RLIMIT_NOFILE,
    "NPROC": resource.RLIMIT_NPROC,
}
MB = 1024 * 1024


@dataclass
class Tmpfs:
    """An empty, private tmpfs mounted over `path`: hides what was there."""

    path: str
    size_mb: int
    mode: int = 0o755


@dataclass
class Jail:
    """Everything one kernel process applies to itself. Plain data, sent as JSON."""

    work_dir: str
    uid: int | None = None
    gid: int | None = None
    # cgroup.procs files of the kernel's own cgroups (memory, pids).
    cgroup_procs: list[str] = field(default_factory=list)
    new_network: bool = False
    # A mount namespace of its own, where `tmpfs` cover directories and `keep` brings back
    # the few paths under them the kernel needs (its work dir and socket dir), and
    # `keep_readonly` those it may only read (the interpreter, its packages, our `kernels`).
    new_mounts: bool = False
    tmpfs: list[Tmpfs] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    keep_readonly: list[str] = field(default_factory=list)
    # A user namespace of its own that maps the process's uid and gid to themselves: how a
    # process that is not root gets the namespaces above (and its capabilities are dropped).
    new_user: bool = False
    # A PID namespace of its own (see the module's docstring): its first process is the kernel.
    new_pid: bool = False
    # Where the process that stays outside the PID namespace writes the kernel's pid.
    report_fd: int | None = None
    # A /proc that shows only the kernel's own processes (hidepid=invisible).
    private_proc: bool = False
    # name -> [soft, hard], names as in RLIMITS.
    rlimits: dict[str, list[int]] = field(default_factory=dict)
    # RLIMIT_AS = what the process already maps when it enters + this many MB (0: no limit).
    address_space_mb: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Jail:
        data = json.loads(text)
        data["tmpfs"] = [Tmpfs(**t) for t in data.get("tmpfs", [])]
        return cls(**data)


class JailError(RuntimeError):
    """The process could not enter its jail; it must not run the kernel."""


def enter(jail: Jail, *, parent_pid: int | None = None) -> None:
    """Apply `jail` to the calling process. Raises JailError naming the step that failed.

    `parent_pid`: the process whose death must kill this one (the zygote, or the launcher's
    parent), checked again after the uid change because changing uid clears the setting.

    With `jail.new_pid`, only the kernel (the namespace's first process) returns; the calling
    process waits for it and exits as it did.
    """
    step = "start"
    # The service's own umask (077) would make the mount points built below uncrossable by
    # the kernel's uid; inside its jail the kernel has the usual one.
    os.umask(0o022)
    try:
        step = "die with parent"
        _die_with_parent(parent_pid)
        step = "join cgroups"
        for procs in jail.cgroup_procs:
            Path(procs).write_text(str(os.getpid()))
        step = "new session"
        if os.getsid(0) != os.getpid():
            os.setsid()
        step = "namespaces"
        _unshare(jail)
        if jail.new_pid:
            step = "PID namespace"
            _fork_into_pid_namespace(jail)
        if jail.new_mounts:
            step = "file system view"
            _build_view(jail)
            if jail.private_proc:
                step = "private /proc"
                _mount_proc(hide_others=not jail.new_pid)
        step = "resource limits"
        _set_rlimits(jail)
        if jail.uid is not None:
            step = f"switch to uid {jail.uid}"
            gid = jail.gid if jail.gid is not None else jail.uid
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(jail.uid, jail.uid, jail.uid)
            # A uid change makes the process non-dumpable, which turns /proc/self/* root-owned
            # and breaks ordinary tools (subprocess, psutil) in the kernel. Nothing secret
            # lives in this process, and only this uid could attach to it.
            linux.prctl(linux.PR_SET_DUMPABLE, 1)
            _die_with_parent(parent_pid)
        elif jail.new_user:
            step = "drop capabilities"
            linux.drop_capabilities()
        step = "no new privileges"
        if linux.is_linux():
            # setuid-root binaries (su, mount, ...) must not give the kernel root back.
            linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
        step = "work dir"
        os.chdir(jail.work_dir)
    except Exception as exc:
        raise JailError(f"cannot enter the kernel sandbox ({step}): {exc}") from exc


def _unshare(jail: Jail) -> None:
    flags = linux.CLONE_NEWNET if jail.new_network else 0
    if jail.new_mounts:
        flags |= linux.CLONE_NEWNS | linux.CLONE_NEWIPC
    if jail.new_pid:
        flags |= linux.CLONE_NEWPID
    if not flags:
        return
    uid, gid = os.getuid(), os.getgid()
    if jail.new_user:
        # In one call: the other namespaces then belong to the new user namespace.
        flags |= linux.CLONE_NEWUSER
    linux.unshare(flags)
    if jail.new_user:
        _write("/proc/self/setgroups", "deny")  # required before an unprivileged gid_map
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _fork_into_pid_namespace(jail: Jail) -> None:
    """Fork; the child, the PID namespace's first process, returns; the parent never does."""
    # The child watches this pipe: it reads EOF once the parent is gone, and the parent
    # never writes to it.
    alive_r, alive_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        if jail.report_fd is not None:
            os.close(jail.report_fd)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent lives in another PID namespace, so getppid() cannot tell whether it died
        # before the setting took effect: its end of the pipe can.
        if select.select([alive_r], [], [], 0)[0]:
            os._exit(JAIL_FAILED_EXIT)
        os.close(alive_r)
        return
    os.close(alive_r)
    if jail.report_fd is not None:
        with contextlib.suppress(OSError):
            os.write(jail.report_fd, f"{pid}\n".encode())
            os.close(jail.report_fd)
    _wait_and_exit_like(pid, keep=(alive_w, 2))


def _wait_and_exit_like(pid: int, keep: tuple[int, ...]) -> NoReturn:
    """Wait for the kernel, then end as it ended (its exit code, or its signal)."""
    # Nothing of the kernel's stays open here: a pipe the service or the zygote reads must
    # reach EOF when the kernel closes it or dies.
    _close_fds_except(*keep)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(JAIL_FAILED_EXIT)
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
            os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # a signal whose default is not to end the process
    os._exit(os.waitstatus_to_exitcode(status))


def _close_fds_except(*keep: int) -> None:
    low = 0
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)


def _die_with_parent(parent_pid: int | None) -> None:
    if parent_pid is None or not linux.is_linux():
        return
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the setting took effect
        os._exit(JAIL_FAILED_EXIT)


def _depth(path: str) -> int:
    return len(Path(path).parts)


def _mount_ops(jail: Jail) -> Iterator[tuple[str, str, Tmpfs | None]]:
    """("tmpfs" | "keep" | "keep_readonly", path, tmpfs), shallowest first, covers before
    keeps at one depth: a deeper mount always lands on what the shallower ones made, so a
    hidden dir inside a kept one (the data dir inside a checkout) is hidden again, and a work
    dir inside a hidden one comes back."""
    ops: list[tuple[int, int, str, str, Tmpfs | None]] = []
    for tmpfs in jail.tmpfs:
        ops.append((_depth(tmpfs.path), 0, "tmpfs", tmpfs.path, tmpfs))
    for path in jail.keep_readonly:
        ops.append((_depth(path), 1, "keep_readonly", path, None))
    for path in jail.keep:
        ops.append((_depth(path), 1, "keep", path, None))
    for _, _, kind, path, mount in sorted(ops, key=lambda op: op[:2]):
        yield kind, path, mount


def _build_view(jail: Jail) -> None:
    # Our mounts must never propagate back into the namespace we came from.
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    # Opened before anything is covered: once a tmpfs hides a path, only a descriptor
    # opened earlier still reaches it.
    kept = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in jail.keep}
    kept.update(
        (path, os.open(path, os.O_PATH | os.O_DIRECTORY))
        for path in jail.keep_readonly
        if os.path.isdir(path)  # an interpreter path that does not exist is not needed
    )
    try:
        for kind, path, tmpfs in _mount_ops(jail):
            if tmpfs is not None:
                if os.path.isdir(path):  # else already covered by a shallower tmpfs
                    linux.mount(
                        "tmpfs",
                        path,
                        "tmpfs",
                        linux.MS_NOSUID | linux.MS_NODEV,
                        f"size={tmpfs.size_mb}m,mode={tmpfs.mode:o}",
                    )
                continue
            if path not in kept:
                continue
            os.makedirs(path, mode=0o755, exist_ok=True)
            linux.mount(f"/proc/self/fd/{kept[path]}", path, None, linux.MS_BIND | linux.MS_REC)
            if kind == "keep_readonly":
                _remount_readonly(path)
    finally:
        for fd in kept.values():
            os.close(fd)


def _remount_readonly(path: str) -> None:
    # The flags a user namespace locks must be repeated, or the remount is refused.
    locked = os.statvfs(path).f_flag & linux.LOCKED_MOUNT_FLAGS
    linux.mount(
        None,
        path,
        None,
        linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY | linux.MS_NOSUID | locked,
    )


def _mount_proc(*, hide_others: bool) -> None:
    # In a PID namespace of its own the new /proc shows its processes only; without one,
    # hidepid hides every process of another uid (the service's, other kernels').
    linux.mount(
        "proc",
        "/proc",
        "proc",
        linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
        "hidepid=invisible" if hide_others else None,
    )


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _set_rlimits(jail: Jail) -> None:
    for name, (soft, hard) in jail.rlimits.items():
        resource.setrlimit(RLIMITS[name], (soft, hard))
    if jail.address_space_mb > 0:
        limit = _vm_size_bytes() + jail.address_space_mb * MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def jail_path(connection_file: str | os.PathLike[str]) -> Path:
    return Path(connection_file).parent / JAIL_FILENAME


def probe(*, new_user: bool) -> None:
    """What `kernels.sandbox` runs once to learn whether this host lets a kernel enter a jail
    like its own: namespaces (with a user namespace when `new_user`), a private mount, a tmpfs,
    and with a user namespace a PID namespace with its own /proc. Raises OSError if not."""
    if new_user:
        _unshare(Jail(work_dir="/", new_user=True, new_network=True, new_mounts=True, new_pid=True))
    else:
        linux.unshare(linux.CLONE_NEWNET | linux.CLONE_NEWNS | linux.CLONE_NEWIPC)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    linux.mount("tmpfs", "/tmp", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m")
    if not new_user:
        return
    pid = os.fork()
    if pid == 0:
        try:
            _mount_proc(hide_others=False)
            linux.drop_capabilities()
            os._exit(0)
        except BaseException as exc:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError("cannot mount /proc in a PID namespace of its own")


def main(argv: list[str] | None = None) -> int:
    """`python -m kernels.jail CONNECTION_FILE -- KERNEL_COMMAND...`: enter the kernel's jail,
    then exec the kernel.

    The jail is read from `jail.json` beside the connection file; without one the kernel
    runs as it is (an unsandboxed local launcher).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--":
        print("usage: launch.py CONNECTION_FILE -- KERNEL_COMMAND...", file=sys.stderr)
        return 2
    connection_file, command = args[0], args[2:]
    path = jail_path(connection_file)
    if path.exists():
        try:
            jail = Jail.from_json(path.read_text())
            if jail.uid is not None:
                # jupyter_client wrote it 0600 for the service's user.
                gid = jail.gid if jail.gid is not None else jail.uid
                os.chown(connection_file, jail.uid, gid)
            enter(jail, parent_pid=os.getppid())
        except (JailError, OSError, ValueError) as exc:
            print(f"pyexec launcher: {exc}", file=sys.stderr, flush=True)
            return JAIL_FAILED_EXIT
    os.execvp(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
