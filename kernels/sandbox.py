"""Per-kernel isolation, decided by the service: what the host offers, and each kernel's jail.

`Sandbox.setup()` probes the host once (root? user namespaces? bubblewrap? cgroups? where do
the interpreter and its packages live?), logs what kernels will and will not get, and keeps it
as an `Isolation` report. Nothing the host cannot offer is skipped silently, and in `auto` mode
a host that cannot keep kernels out of the service's files at all is refused
(`SandboxUnavailableError`): running them anyway takes an explicit `off`. `Sandbox.prepare()`
then gives each kernel a `SandboxLease`: its own uid from the configured range, its work dir
and socket dir handed to that uid, its cgroups with limits, and the `Jail` the kernel process
enters before the kernel starts (see `kernels.jail`). Both backends use it the same way.

As root, a kernel gets a uid of its own, cgroups, and namespaces entered while still root. As
a normal user (a laptop), wherever unprivileged user namespaces work, a kernel gets a user
namespace of its own (mapping the service's uid to itself), and in it the same file-system
view, network and IPC namespaces, plus a PID namespace whose first process is the kernel:
killing that process kills everything the kernel started (see `kernels.jail`), and
RLIMIT_NPROC counts the kernel's processes only (Linux counts it per user namespace). What is
missing without root is a uid and cgroups of its own.

What a kernel sees of the file system: the system dirs, a few files of /etc, its own work dir
and socket dir, and read-only the interpreter, every directory on its `sys.path` and our
`kernels` package, wherever they are (under /tmp, /root, /home, behind a symlink, on a path
with spaces), asked of the interpreter itself once. The data dir stays hidden even when it
holds one of those.

How the service and a sandboxed kernel share files
--------------------------------------------------
* The kernel runs as its own uid U (gid U). Its work dir (`kernel.work_dir`, mode 0700) and
  the `.tmp` inside are owned by U. The service runs as root and can read and write there,
  which is exactly why it touches them only through `kernel.files` (`kernels.workdir`):
  inputs are placed before the job's code runs, root-owned and 0444 (readable, not
  writable, by U); what the kernel wrote is read only once its processes are gone, without
  following any link.
* Inside the kernel's view only its own work dir exists under the work root; the service's
  data dir, database, other kernels' dirs, `/root` and the service's processes are absent.

What the service does as root on paths a kernel can write, and why each is safe
-------------------------------------------------------------------------------
* Work dir and `.tmp` created, then chowned to U (`KernelPool`, `Sandbox.prepare`): before the
  kernel exists; `os.chown` on paths whose parents are the service's own.
* Runtime (socket) dir chowned to U, `jail.json`, the connection file and the kernel's log
  written there (launchers, `kernels.jail.main`, the fork-server child): before any code of
  the job runs; the log is opened `O_NOFOLLOW`, and read back the same way.
* The runtime dir given back to root once the kernel listens (`SandboxLease.seal`): U can no
  longer add or swap entries there; jupyter_client then only unlinks its own files in it.
* Inputs staged (`HostWorkDir.put`): `O_CREAT | O_EXCL | O_NOFOLLOW` relative to the work
  dir's descriptor, mode by `fchmod`.
* Artifacts listed and read (`HostWorkDir.collect`): after `kernel.stop()` (cgroup emptied
  and/or every process of U killed), walked by directory descriptors with `O_NOFOLLOW` at
  every step, regular files of one link only, copied from the checked descriptor, no more
  bytes than listed.
* Work and runtime dirs deleted (`shutil.rmtree`, descriptor-based, never follows a link),
  after the kernel's processes are killed.
* What a crashed pool left (`kernels.workroot.sweep`, when the next pool starts): the same
  descriptor-based `rmtree`. The work root, the pool dirs and their lock files are the
  service's (0711), so a kernel can neither add nor swap them; a directory a kernel made
  unreadable is chmodded only through an `O_PATH | O_NOFOLLOW` descriptor, never a path.
* Processes killed: by cgroup, by process group and as U (`purge`); as a normal user, the
  kernel's PID namespace through a pidfd of its first process (`SandboxLease.kill_all`):
  signals, not paths.

As a normal user the service is no more privileged than the kernel's uid, so none of the above
can give a kernel more than it has; the same care keeps a kernel from steering the service's
reads and deletions into the service's own files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import select
import shutil
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pyexec.kernels import linux
from pyexec.kernels.cgroups import CgroupHost, KernelCgroup
from pyexec.kernels.env import TMP_DIRNAME
from pyexec.kernels.jail import Jail, Tmpfs
from pyexec.kernels.uids import DEFAULT_LOCK_DIR, UidAllocator, UidLease, processes_of_uid, purge

log = logging.getLogger(__name__)

SandboxMode = Literal["auto", "strict", "off"]
# "delegated": another system runs the kernels and isolates them (a gateway's kernel pods).
IsolationLevel = Literal["full", "partial", "minimal", "off", "delegated"]

KERNELS_DIR = Path(__file__).resolve().parent
KERNELSPECS_DIR = KERNELS_DIR.parent / "kernelspecs"
# What the kernels need of /etc (fonts for matplotlib, the loader cache, time zones...);
# the rest of /etc (package-manager credentials, service configs) stays out of view.
ETC_ALLOWED = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "debian_version", "fonts",
    "gai.conf", "group", "host.conf", "hosts", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
    "localtime", "matplotlibrc", "mime.types", "nsswitch.conf", "os-release", "passwd",
    "protocols", "services", "ssl", "timezone",
)  # fmt: skip
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Without bubblewrap, the mount namespace can only hide what it knows about.
DENY_LIST = ("/root", "/home", "/run", "/var/tmp", "/srv", "/mnt", "/media")
SMALL_TMPFS_MB = 1  # a tmpfs that only holds the mount points of kept dirs
PROBE_TIMEOUT_SECONDS = 20.0
# A local kernel enters its jail before exec, while it maps almost nothing; the fresh
# interpreter then maps about this much with pandas and numpy imported.
EXEC_BASE_ADDRESS_SPACE_MB = 1024
# How long killing a kernel's PID namespace may take before it counts as not verified.
NAMESPACE_KILL_WAIT_SECONDS = 10.0
DOCS = "docs/isolation.md"


class SandboxUnavailableError(RuntimeError):
    """The host cannot isolate kernels as the mode asks: `strict` and something is missing,
    or `auto` and kernels could read the service's files. The message says what to do."""


@dataclass(frozen=True)
class KernelLimits:
    """Resource limits of one kernel; 0 means none."""

    memory_mb: int = 2048  # cgroup memory limit; also bounds the address space
    processes: int = 256  # cgroup pids.max and RLIMIT_NPROC (threads count too)
    cpu_seconds: int = 3600  # RLIMIT_CPU: SIGXCPU, then SIGKILL 5 s later
    file_size_mb: int = 1024  # RLIMIT_FSIZE: "File too large" past it
    open_files: int = 1024  # RLIMIT_NOFILE
    tmp_mb: int = 256  # the kernel's private /tmp and /dev/shm (in RAM, counted as memory)


@dataclass(frozen=True)
class SandboxPolicy:
    mode: SandboxMode = "auto"
    uid_first: int = 200000
    uid_count: int = 1000
    limits: KernelLimits = field(default_factory=KernelLimits)
    # Paths of the service no kernel may see, beyond what the view leaves out anyway.
    hidden: tuple[Path, ...] = ()
    uid_lock_dir: Path = DEFAULT_LOCK_DIR


@dataclass(frozen=True)
class Isolation:
    """What kernels of this service actually get, feature by feature."""

    backend: str
    level: IsolationLevel
    enforced: dict[str, str]  # feature -> how
    missing: dict[str, str]  # feature -> why not
    # What else describes the backend (a gateway's URL and version); never a secret.
    facts: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        report: dict[str, object] = {
            "backend": self.backend,
            "level": self.level,
            "enforced": dict(self.enforced),
            "missing": dict(self.missing),
        }
        if self.facts:
            report.update(self.facts)
        return report

    def summary(self) -> str:
        text = f"kernel isolation ({self.backend}): {self.level}"
        text += "".join(f"; {k}: {v}" for k, v in self.facts.items())
        text += "".join(f"; {k}: {v}" for k, v in self.enforced.items())
        if self.missing:
            text += " | NOT enforced: " + "; ".join(f"{k}: {v}" for k, v in self.missing.items())
        return text

    def reach(self) -> str:
        """One line for people: what a job's code can reach."""
        if self.level == "delegated":
            facts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.facts.items())
            text = f"delegated: isolation is {self.enforced.get('isolation', 'not ours')}"
            return f"{text}; {facts}" if facts else text
        if self.level == "off":
            return (
                f"NOT sandboxed ({self.missing.get('filesystem', 'off')}): job code runs with "
                "the service's rights: it reads the data dir (database, API keys) and reaches "
                "the network"
            )
        files = (
            "only the interpreter, its packages and its own work dir"
            if "filesystem" in self.enforced
            else "every file the service's user can read"
            if "uid" not in self.enforced
            else "every file readable by any user"
        )
        network = "no network" if "network" in self.enforced else "the network"
        who = "its own uid" if "uid" in self.enforced else "the service's uid"
        limits = [n for n in ("memory_cgroup", "pids_cgroup") if n in self.missing]
        text = f"{self.level} isolation: a job sees {files}, {network}, runs as {who}"
        if limits:
            text += "; no " + " or ".join(n.replace("_", " ") for n in limits) + " (rlimits only)"
        return text


# Features whose absence makes isolation "partial"; the others are always there.
CORE_FEATURES = ("uid", "filesystem", "network", "memory_cgroup", "pids_cgroup")


@dataclass
class HostSupport:
    """The probe's findings."""

    root: bool = False
    namespaces: bool = False
    # The namespaces come with a user namespace of the kernel's own (not root).
    userns: bool = False
    bwrap: str | None = None
    cgroups: CgroupHost = field(default_factory=CgroupHost)
    # What the kernel's interpreter reads: its prefixes, its sys.path, our `kernels`.
    interpreter_paths: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


class SandboxLease:
    """One kernel's share of the sandbox; `release()` undoes all of it. Idempotent."""

    def __init__(
        self,
        sandbox: Sandbox,
        jail: Jail,
        uid: UidLease | None,
        cgroup: KernelCgroup | None,
    ) -> None:
        self.sandbox = sandbox
        self.jail = jail
        self._uid = uid
        self._cgroup = cgroup
        self._init_pidfd: int | None = None
        self._released = False

    @property
    def uid(self) -> int | None:
        return self._uid.uid if self._uid is not None else None

    def watch_namespace(self, pid: int) -> bool:
        """Follow the kernel's first process in its own PID namespace (`pid` as we see it),
        through a pidfd: its death is the death of every process of the kernel."""
        if self._init_pidfd is not None or not self.jail.new_pid:
            return False
        try:
            fd = os.pidfd_open(pid)
        except OSError as exc:
            log.warning("cannot follow kernel process %s: %s", pid, exc)
            return False
        # Opened after the pid was reported: make sure it is still a PID namespace's first
        # process (NSpid ends in 1), not a pid already reused by another process.
        if not _is_namespace_init(pid):
            os.close(fd)
            log.warning("kernel process %s was gone before it could be followed", pid)
            return False
        self._init_pidfd = fd
        return True

    async def kill_all(self) -> bool:
        """Kill every process the kernel left, including those that left its process group.
        True when none is left, as far as the cgroup, the uid or the PID namespace can tell."""
        if self._init_pidfd is not None:
            # Exact: the first process of a PID namespace is reported dead only after every
            # other process in it was killed and reaped.
            if not await asyncio.to_thread(_kill_and_wait, self._init_pidfd):
                return False
            if self._cgroup is None and self._uid is None:
                return True
        if self._cgroup is not None:
            # Exact and cheap: if the cgroup is empty, nothing of the kernel is left.
            await asyncio.to_thread(self._cgroup.kill_all)
            if not self._cgroup.pids():
                return True
        if self._uid is not None:
            # kill(-1) as the uid reaches every process of it at once, forks included.
            await purge(self._uid.uid, self._uid.gid)
            return not await asyncio.to_thread(processes_of_uid, self._uid.uid)
        return False

    def seal(self, runtime_dir: Path) -> None:
        """Give the kernel's socket dir back to the service once the kernel is listening."""
        if self._uid is not None:
            os.chown(runtime_dir, os.geteuid(), os.getegid(), follow_symlinks=False)

    def death_reason(self) -> str | None:
        """Why the kernel died, when the sandbox knows better than the exit status."""
        if self._cgroup is not None and self._cgroup.oom_kills():
            limit = self.sandbox.policy.limits.memory_mb
            return f"kernel died: out of memory (limit {limit} MB)"
        return None

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        clean = True
        try:
            await self.kill_all()
        except Exception:
            clean = False
            log.exception("could not kill what kernel uid %s left running", self.uid)
        if self._init_pidfd is not None:
            os.close(self._init_pidfd)
            self._init_pidfd = None
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.remove)
        if self._uid is not None:
            self._uid.release(clean=clean)


def _kill_and_wait(pidfd: int, timeout: float = NAMESPACE_KILL_WAIT_SECONDS) -> bool:
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def _is_namespace_init(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    ids = line.split()[1:]
                    return len(ids) > 1 and ids[-1] == "1"
    except OSError:
        pass
    return False


class Sandbox:
    """Probes the host once, then prepares a jail per kernel. One per launcher."""

    def __init__(
        self,
        policy: SandboxPolicy,
        *,
        backend: str,
        python: str = sys.executable,
        exec_after_jail: bool = False,
    ) -> None:
        """`exec_after_jail`: the kernel process execs a fresh interpreter once in its jail
        (the local backend), instead of already being one (a fork of the zygote)."""
        self.policy = policy
        self.backend = backend
        self.exec_after_jail = exec_after_jail
        self.python = os.path.abspath(python)
        self.support = HostSupport()
        self.isolation: Isolation | None = None
        self.work_root: Path | None = None
        self.runtime_root: Path | None = None
        self._uids: UidAllocator | None = None
        self._readonly: dict[tuple[str, ...], list[str]] = {}
        self._lock = asyncio.Lock()

    # -- set-up -------------------------------------------------------------------

    async def setup(self, work_root: Path, runtime_root: Path) -> Isolation:
        """Probe the host (once) and log what kernels get. Raises SandboxUnavailableError in
        strict mode when something is missing, and in auto mode when kernels could read the
        service's files (no uid of their own and no view of their own)."""
        async with self._lock:
            if self.isolation is not None:
                return self.isolation
            self.work_root, self.runtime_root = _resolved(work_root), _resolved(runtime_root)
            if self.policy.mode != "off":
                await self._probe()
            if self.support.root:
                self._uids = UidAllocator(
                    self.policy.uid_first, self.policy.uid_count, self.policy.uid_lock_dir
                )
            isolation = self._assess()
            if self.policy.mode == "strict" and isolation.level != "full":
                raise SandboxUnavailableError(
                    "PYEXEC_KERNEL_SANDBOX=strict, but the host cannot isolate kernels: "
                    + "; ".join(f"{k}: {v}" for k, v in isolation.missing.items())
                )
            if self.policy.mode == "auto" and isolation.level == "minimal":
                raise SandboxUnavailableError(_refusal(isolation))
            level = logging.WARNING if isolation.missing else logging.INFO
            log.log(level, "kernels: %s [%s]", isolation.reach(), isolation.summary())
            self.isolation = isolation
            return isolation

    async def _probe(self) -> None:
        support = self.support = HostSupport(root=os.geteuid() == 0 and linux.is_linux())
        if not linux.is_linux():
            support.reasons["all"] = "not Linux"
            return
        if not support.root:
            support.reasons["root"] = "the service does not run as root"
        support.cgroups = await asyncio.to_thread(CgroupHost.detect)
        if support.cgroups.pids or support.cgroups.memory:
            await asyncio.to_thread(support.cgroups.sweep)
        # One run of the interpreter: where it reads code from, then whether it can enter a
        # jail like a kernel's.
        jail_probe = _jail_probe(new_user=not support.root)
        ok, out, detail = await _run_probe([self.python, "-I", "-c", _PATHS_PROBE + jail_probe])
        try:
            support.interpreter_paths = json.loads(out.splitlines()[0])
        except (IndexError, ValueError):
            log.warning("could not ask %s where it reads from (%s)", self.python, detail)
        support.namespaces = ok
        support.userns = ok and not support.root
        if not ok:
            support.reasons["namespaces"] = (
                f"cannot create namespaces ({detail})"
                if support.root
                else f"unprivileged user namespaces are unavailable ({detail})"
            )
            return
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            support.reasons["bwrap"] = "bubblewrap (bwrap) is not installed"
            return
        # The whole way a kernel goes: the interpreter in bubblewrap's view, entering a jail.
        in_view = [self.python, "-I", "-c", jail_probe]
        ok, _, detail = await _run_probe(self._bwrap_command(bwrap, in_view))
        if ok:
            support.bwrap = bwrap
        else:
            support.reasons["bwrap"] = f"bubblewrap does not work here ({detail})"

    def _assess(self) -> Isolation:
        s, limits = self.support, self.policy.limits
        enforced = {
            "environment": "scrubbed (no service variables or secrets)",
            "session": "own session and process group, killed as a whole on release",
        }
        counted = s.root or s.userns  # RLIMIT_NPROC counts only the kernel's own processes
        rlimits = [
            f"cpu {limits.cpu_seconds} s" if limits.cpu_seconds else "",
            f"file size {limits.file_size_mb} MB" if limits.file_size_mb else "",
            f"open files {limits.open_files}" if limits.open_files else "",
            f"address space +{limits.memory_mb} MB" if limits.memory_mb else "",
            f"processes {limits.processes}" if limits.processes and counted else "",
        ]
        enforced["rlimits"] = ", ".join(r for r in rlimits if r) or "none configured"
        missing: dict[str, str] = {}
        if self.policy.mode == "off":
            reason = "PYEXEC_KERNEL_SANDBOX=off"
            missing = {feature: reason for feature in CORE_FEATURES}
            return Isolation(self.backend, "off", enforced, missing)
        not_linux = s.reasons.get("all")
        no_namespaces = not_linux or s.reasons.get("namespaces", "unavailable")
        if s.root and self._uids is not None:
            enforced["uid"] = f"one unprivileged uid per kernel ({self._uids.describe()})"
        elif s.userns:
            missing["uid"] = (
                f"the service does not run as root: kernels run as its user ({_user()}), "
                "each in a user namespace of its own"
            )
        else:
            missing["uid"] = not_linux or s.reasons.get("root", "unavailable")
        if s.bwrap:
            enforced["filesystem"] = (
                "bubblewrap allow-list view: system dirs and the interpreter read-only, own "
                "work dir only; data dir, database, other kernels, home dirs and service "
                "processes hidden"
            )
        elif s.namespaces:
            enforced["filesystem"] = (
                "mount namespace deny-list: data dir, other kernels, /root, /home, /run and "
                "service processes hidden"
            )
            missing["filesystem_allowlist"] = s.reasons.get("bwrap", "bubblewrap unavailable")
        else:
            missing["filesystem"] = no_namespaces
        if s.namespaces:
            enforced["network"] = "own empty network namespace (kernel traffic over ipc)"
        else:
            missing["network"] = no_namespaces
        if s.userns:
            enforced["processes"] = (
                "own PID namespace: a kernel sees and signals only its own processes, and "
                "all of them die with it"
            )
        cg = s.cgroups
        if cg.memory:
            limit = f"limit {limits.memory_mb} MB" if limits.memory_mb else "no limit set"
            enforced["memory_cgroup"] = f"{cg.version} memory, {limit}"
        else:
            missing["memory_cgroup"] = not_linux or cg.reasons.get("memory", "unavailable")
        if cg.pids:
            limit = f"limit {limits.processes}" if limits.processes else "no limit set"
            enforced["pids_cgroup"] = f"{cg.version} pids, {limit}"
        else:
            missing["pids_cgroup"] = not_linux or cg.reasons.get("pids", "unavailable")
        if not any(f in enforced for f in ("uid", "filesystem")):
            # Nothing stands between a job and the service's files: its database and keys.
            level: IsolationLevel = "minimal"
        elif any(f in missing for f in (*CORE_FEATURES, "filesystem_allowlist")):
            level = "partial"
        else:
            level = "full"
        return Isolation(self.backend, level, enforced, missing)

    # -- per kernel ----------------------------------------------------------------

    async def prepare(self, kernel_id: str, work_dir: Path, runtime_dir: Path) -> SandboxLease:
        """Everything one kernel needs before its process starts. Undo with `release()`."""
        if self.isolation is None:
            raise RuntimeError("Sandbox.setup() first")
        uid_lease: UidLease | None = None
        made: list[KernelCgroup] = []
        try:
            if self._uids is not None:
                uid_lease, dirty = self._uids.acquire()
                if dirty:
                    await purge(uid_lease.uid, uid_lease.gid)
            # The file-system work (paths, chown, cgroup dirs: ~15 system calls, a cgroup
            # mkdir can block) off the event loop, which also serves HTTP.
            work = asyncio.ensure_future(
                asyncio.to_thread(
                    self._prepare_files, kernel_id, work_dir, runtime_dir, uid_lease, made
                )
            )
            try:
                jail, cgroup = await asyncio.shield(work)
            except asyncio.CancelledError:
                # The thread runs on: undo what it made once it is done.
                work.add_done_callback(lambda _: _remove_cgroups(made))
                raise
        except BaseException:
            _remove_cgroups(made)
            if uid_lease is not None:
                uid_lease.release(clean=False)
            raise
        return SandboxLease(self, jail, uid_lease, cgroup)

    def _prepare_files(
        self,
        kernel_id: str,
        work_dir: Path,
        runtime_dir: Path,
        uid_lease: UidLease | None,
        made: list[KernelCgroup],
    ) -> tuple[Jail, KernelCgroup | None]:
        work_dir, runtime_dir = _resolved(work_dir), _resolved(runtime_dir)
        if uid_lease is not None:
            for path in (work_dir, work_dir / TMP_DIRNAME, runtime_dir):
                if path.exists():
                    os.chown(path, uid_lease.uid, uid_lease.gid, follow_symlinks=False)
        cgroup: KernelCgroup | None = None
        cg, limits = self.support.cgroups, self.policy.limits
        if cg.memory or cg.pids:
            cgroup = cg.create(kernel_id, limits.memory_mb * 1024 * 1024, limits.processes)
            made.append(cgroup)
        return self._jail(work_dir, runtime_dir, uid_lease, cgroup), cgroup

    def _jail(
        self,
        work_dir: Path,
        runtime_dir: Path,
        uid: UidLease | None,
        cgroup: KernelCgroup | None,
    ) -> Jail:
        limits, s = self.policy.limits, self.support
        on = s.namespaces and self.policy.mode != "off"
        rlimits: dict[str, list[int]] = {"CORE": [0, 0]}
        if limits.cpu_seconds:
            rlimits["CPU"] = [limits.cpu_seconds, limits.cpu_seconds + 5]
        if limits.file_size_mb:
            size = limits.file_size_mb * 1024 * 1024
            rlimits["FSIZE"] = [size, size]
        if limits.open_files:
            rlimits["NOFILE"] = [limits.open_files, limits.open_files]
        if limits.processes and (uid is not None or (on and s.userns)):
            # Counts every process of the uid in its user namespace: exact only with a uid
            # (or a user namespace) per kernel.
            rlimits["NPROC"] = [limits.processes, limits.processes]
        jail = Jail(
            work_dir=str(work_dir),
            uid=uid.uid if uid else None,
            gid=uid.gid if uid else None,
            cgroup_procs=cgroup.procs_files if cgroup else [],
            rlimits=rlimits,
            address_space_mb=limits.memory_mb
            + (EXEC_BASE_ADDRESS_SPACE_MB if limits.memory_mb and self.exec_after_jail else 0),
        )
        if on:
            jail.new_network = True
            jail.new_mounts = True
            jail.private_proc = True
            jail.new_user = jail.new_pid = s.userns
            jail.tmpfs, jail.keep, jail.keep_readonly = self._view_changes(work_dir, runtime_dir)
        return jail

    def _view_changes(
        self, work_dir: Path, runtime_dir: Path
    ) -> tuple[list[Tmpfs], list[str], list[str]]:
        """What the kernel's mount namespace covers, and what it brings back under that: its
        own dirs, and read-only whatever the interpreter reads that a cover would hide (the
        venv of a checkout under /tmp; pyenv under /root without bubblewrap)."""
        assert self.work_root is not None and self.runtime_root is not None
        tmp = self.policy.limits.tmp_mb or 64
        covers = [
            Tmpfs("/tmp", tmp, 0o1777),
            Tmpfs("/dev/shm", tmp, 0o1777),
            Tmpfs(str(self.work_root), SMALL_TMPFS_MB),
            Tmpfs(str(self.runtime_root), SMALL_TMPFS_MB),
        ]
        keep = [str(work_dir), str(runtime_dir)]
        if not self.support.bwrap:
            # The host's own view: hide what we know to be private.
            hidden = [*DENY_LIST, *(str(h) for h in self.policy.hidden)]
            covers += [Tmpfs(h, SMALL_TMPFS_MB) for h in hidden if os.path.isdir(h)]
        return covers, keep, self._readonly_paths(tuple(c.path for c in covers))

    def _readonly_paths(self, covered: tuple[str, ...]) -> list[str]:
        """The interpreter's dirs under one of `covered`. The same for every kernel, and ~45
        path comparisons after ~10 realpath calls: computed once per set of covers."""
        readonly = self._readonly.get(covered)
        if readonly is None:
            readonly = [
                path
                for path in self._interpreter_paths()
                if any(_is_under(path, cover) for cover in covered)
            ]
            self._readonly[covered] = readonly
        return list(readonly)

    def _interpreter_paths(self) -> list[str]:
        """Every directory the kernel's interpreter reads code from, as it names it and where
        it really is, without the ones inside another (sorted, shallowest first)."""
        python = Path(self.python)
        named = {
            *self.support.interpreter_paths,
            sys.base_prefix,
            str(python.parent.parent),
            str(python.resolve().parent.parent),
            str(KERNELS_DIR),
        }
        paths: set[str] = set()
        for path in named:
            if path and os.path.isabs(path) and os.path.isdir(path):
                paths.update({os.path.abspath(path), os.path.realpath(path)})
        paths.discard("/")
        kept: list[str] = []
        for path in sorted(paths, key=lambda p: (_depth(p), p)):
            if not any(_is_under(path, parent) and not self._hides(path) for parent in kept):
                kept.append(path)
        return kept

    def _hides(self, path: str) -> bool:
        """A hidden dir of the policy holds `path` (which must then be bound on its own)."""
        return any(_is_under(path, str(hidden)) for hidden in self.policy.hidden)

    # -- the view ------------------------------------------------------------------

    def wrap(self, command: Sequence[str]) -> list[str]:
        """`command` inside the base view (bubblewrap), or as it is without bubblewrap."""
        if self.support.bwrap is None:
            return list(command)
        return self._bwrap_command(self.support.bwrap, command)

    def _bwrap_command(self, bwrap: str, command: Sequence[str]) -> list[str]:
        """The allow-list view shared by every kernel: per kernel, the jail narrows it.

        As root, kernel processes stay root inside it (with all capabilities, no user
        namespace) so that they can still enter their jail; the jail drops root for good. As
        a normal user, bubblewrap makes a user namespace, and each kernel one more of its own.
        """
        assert self.work_root is not None and self.runtime_root is not None
        args = [bwrap, "--die-with-parent"]
        if not self.support.root:
            args.append("--unshare-user")
        args += ["--unshare-net", "--unshare-ipc", "--unshare-uts"]
        args += ["--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc", "--dir", "/var/tmp"]
        visible: list[str] = []
        for path in SYSTEM_DIRS:
            p = Path(path)
            if p.is_symlink():
                args += ["--symlink", os.readlink(p), path]
            elif p.is_dir():
                args += ["--ro-bind", path, path]
                visible.append(path)
        for name in ETC_ALLOWED:
            if os.path.lexists(f"/etc/{name}"):
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        args += ["--ro-bind", "/sys", "/sys"]
        made: set[str] = {"/", "/tmp", "/dev", "/proc", "/sys", "/var", "/var/tmp", "/etc"}
        # Shallowest first, covers before binds at one depth: a deeper mount lands on what the
        # shallower ones made (a work root inside a hidden data dir comes back; a data dir
        # inside a bound dir is hidden).
        ops: list[tuple[int, int, str, str]] = []
        for path in self._interpreter_paths():
            if self._hides(path) or not any(_is_under(path, v) for v in visible):
                ops.append((_depth(path), 1, "--ro-bind", path))
                visible.append(path)
        for hidden in self.policy.hidden:
            if any(_is_under(str(hidden), v) for v in visible):
                ops.append((_depth(str(hidden)), 0, "--tmpfs", str(hidden)))
        for path in (str(self.work_root), str(self.runtime_root)):
            ops.append((_depth(path), 1, "--bind", path))
        for _, _, flag, path in sorted(ops):
            if flag == "--tmpfs":
                args += [flag, path]
            else:
                args += [*_parent_dirs(path, made), flag, path, path]
        for parent in self.support.cgroups.parents:
            args += ["--bind", str(parent), str(parent)]
        # What bubblewrap made in its own tmpfs (/, /etc, /var/tmp, /dev) is shared by every
        # kernel of one zygote and, without root, writable by them: a file planted there
        # (/etc/ld.so.preload) would reach the next job's kernel.
        args += ["--remount-ro", "/", "--remount-ro", "/dev"]
        return [*args, "--chdir", "/", "--", *command]


def _parent_dirs(path: str, made: set[str]) -> list[str]:
    """bwrap arguments creating the missing ancestors of `path` as 0755 directories.

    bubblewrap makes the parents of a bind mount 0700, which the kernel's uid could not cross.
    """
    args: list[str] = []
    for parent in reversed(Path(path).parents):
        name = str(parent)
        if name not in made:
            made.add(name)
            args += ["--perms", "0755", "--dir", name]
    return args


def _remove_cgroups(made: list[KernelCgroup]) -> None:
    while made:
        made.pop().remove()


def _resolved(path: Path) -> Path:
    # Kernels see real paths: a symlinked work root must be bound where it really is.
    return Path(os.path.realpath(path))


def _depth(path: str) -> int:
    return len(Path(path).parts)


def _is_under(path: str, parent: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(parent)]) == os.path.abspath(
        parent
    )


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _refusal(isolation: Isolation) -> str:
    why = isolation.missing.get("filesystem", "no sandbox")
    return (
        f"kernels cannot be isolated on this host ({why}): job code would run with the "
        "service's rights and could read its database and API keys. Run as root, or allow "
        "unprivileged user namespaces and install bubblewrap; or set "
        f"PYEXEC_KERNEL_SANDBOX=off to run kernels unsandboxed anyway (see {DOCS})"
    )


# Run by the kernel's interpreter (isolated: no environment, no cwd on sys.path), once: where
# it reads code from. Our `pyexec.kernels` package is found as the kernel will find it (an
# editable install maps `pyexec` by name, outside sys.path; `pyexec/kernels` links to
# `kernels/` in a checkout), without being imported; `pyexec` itself has nothing to import.
_PATHS_PROBE = """
import importlib.util, json, sys
paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]
for name in ("pyexec", "pyexec.kernels"):
    spec = importlib.util.find_spec(name)
    paths += list(spec.submodule_search_locations or []) if spec else []
print(json.dumps(sorted({p for p in paths if p})), flush=True)
"""


def _jail_probe(*, new_user: bool) -> str:
    return f"from pyexec.kernels.jail import probe; probe(new_user={new_user})\n"


async def _run_probe(command: Sequence[str]) -> tuple[bool, str, str]:
    """(whether it exited 0, its stdout, the last line it printed on stderr)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            cwd="/",
        )
    except OSError as exc:
        return False, "", str(exc)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            out, err = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return False, "", "timed out"
    lines = err.decode(errors="replace").strip().splitlines()
    detail = lines[-1] if lines else f"exit code {proc.returncode}"
    return proc.returncode == 0, out.decode(errors="replace"), detail
