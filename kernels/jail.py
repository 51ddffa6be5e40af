"""What a kernel process does to itself, before the kernel starts: enter its `Jail`.

The service decides the jail (`kernels.sandbox`); the kernel process applies it to itself
while it is still root, in this order: join its cgroups, start its own session, leave the
network and mount namespaces of the service, build its private view of the file system,
set its resource limits, become its own unprivileged user, and move into its work dir.

Both backends run this same code: a fork-server child calls `enter` right after the fork;
the local backend's launcher (`kernelspecs/pyexec-python/launch.py`) calls `main`, which
enters the jail and then execs the kernel. Stdlib only: it runs in the kernel's process.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kernels import linux

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
    # the few paths under them the kernel needs (its work dir and socket dir).
    new_mounts: bool = False
    tmpfs: list[Tmpfs] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
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
        flags = linux.CLONE_NEWNET if jail.new_network else 0
        if jail.new_mounts:
            flags |= linux.CLONE_NEWNS | linux.CLONE_NEWIPC
        if flags:
            linux.unshare(flags)
        if jail.new_mounts:
            step = "file system view"
            _build_view(jail)
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
        step = "no new privileges"
        if linux.is_linux():
            # setuid-root binaries (su, mount, ...) must not give the kernel root back.
            linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
        step = "work dir"
        os.chdir(jail.work_dir)
    except Exception as exc:
        raise JailError(f"cannot enter the kernel sandbox ({step}): {exc}") from exc


def _die_with_parent(parent_pid: int | None) -> None:
    if parent_pid is None or not linux.is_linux():
        return
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the setting took effect
        os._exit(JAIL_FAILED_EXIT)


def _depth(path: str) -> int:
    return len(Path(path).parts)


def _build_view(jail: Jail) -> None:
    # Our mounts must never propagate back into the namespace we came from.
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    # Opened before anything is covered: once a tmpfs hides a path, only a descriptor
    # opened earlier still reaches it.
    kept = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in jail.keep}
    try:
        for tmpfs in sorted(jail.tmpfs, key=lambda t: _depth(t.path)):
            if os.path.isdir(tmpfs.path):  # else already covered by a shallower tmpfs
                linux.mount(
                    "tmpfs",
                    tmpfs.path,
                    "tmpfs",
                    linux.MS_NOSUID | linux.MS_NODEV,
                    f"size={tmpfs.size_mb}m,mode={tmpfs.mode:o}",
                )
        for path in sorted(kept, key=_depth):
            os.makedirs(path, mode=0o755, exist_ok=True)
            linux.mount(f"/proc/self/fd/{kept[path]}", path, None, linux.MS_BIND | linux.MS_REC)
    finally:
        for fd in kept.values():
            os.close(fd)
    if jail.private_proc:
        linux.mount(
            "proc",
            "/proc",
            "proc",
            linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
            "hidepid=invisible",
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


def main(argv: list[str] | None = None) -> int:
    """`launch.py CONNECTION_FILE -- KERNEL_COMMAND...`: enter the kernel's jail, exec it.

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
