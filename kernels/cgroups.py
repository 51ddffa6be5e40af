"""Memory and process-count limits per kernel with cgroups, v2 or v1, where the host allows.

Kernel cgroups are created *below the service's own cgroup* (read from /proc/self/cgroup),
so they nest inside whatever limits the service itself runs under, and several services on
one host never share them. Layout, for each controller's hierarchy::

    <service cgroup>/pyexec-kernels/<kernel_id>/

`CgroupHost.detect()` finds what is usable; anything missing is a reason string, never an
exception, so the sandbox can report it and go on without.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT_NAME = "pyexec-kernels"
# How long removing a kernel cgroup waits for its processes to be gone.
REMOVE_WAIT_SECONDS = 2.0
SWEEP_MIN_AGE_SECONDS = 600.0


@dataclass(frozen=True)
class KernelCgroup:
    """The cgroup directories of one kernel (one per hierarchy that has them)."""

    dirs: tuple[Path, ...]
    memory_events: Path | None  # where the OOM-kill counter is

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return found

    def oom_kills(self) -> int:
        """How many processes of this cgroup the kernel killed for memory (0 if unknown)."""
        if self.memory_events is None:
            return 0
        try:
            for line in self.memory_events.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup, until none is left (or ~2 s passed)."""
        deadline = time.monotonic() + REMOVE_WAIT_SECONDS
        for d in self.dirs:
            kill_file = d / "cgroup.kill"  # v2, Linux 5.14+: atomic, forks cannot escape
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        deadline = time.monotonic() + REMOVE_WAIT_SECONDS
        for d in self.dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    # EBUSY while exiting processes are still being torn down.
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        log.warning("cannot remove cgroup %s: %s", d, exc)
                        break
                    time.sleep(0.01)


@dataclass
class CgroupHost:
    """Where kernel cgroups go on this host, and which limits they can enforce."""

    version: str | None = None  # "v2", "v1" or None
    memory_parent: Path | None = None
    pids_parent: Path | None = None
    reasons: dict[str, str] = field(default_factory=dict)  # "memory"/"pids" -> why not

    @property
    def memory(self) -> bool:
        return self.memory_parent is not None

    @property
    def pids(self) -> bool:
        return self.pids_parent is not None

    def describe(self) -> str:
        have = [n for n in ("memory", "pids") if getattr(self, n)]
        return f"cgroup {self.version} {'+'.join(have)}" if have else "none"

    @classmethod
    def detect(
        cls,
        root: Path = CGROUP_ROOT,
        proc_self_cgroup: Path = Path("/proc/self/cgroup"),
        name: str = PARENT_NAME,
    ) -> CgroupHost:
        """Find writable memory and pids hierarchies below our own cgroup (v2 first)."""
        host = cls()
        if os.geteuid() != 0:
            reason = "not running as root"
            host.reasons = {"memory": reason, "pids": reason}
            return host
        try:
            own = _own_cgroups(proc_self_cgroup.read_text())
        except OSError as exc:
            reason = f"cannot read {proc_self_cgroup}: {exc}"
            host.reasons = {"memory": reason, "pids": reason}
            return host
        v2 = _detect_v2(root, own.get(""), name)
        if v2 is not None and (v2.memory or v2.pids):
            return v2
        v1 = _detect_v1(root, own, name)
        if v2 is not None:
            for key in ("memory", "pids"):
                if key in v1.reasons and key in v2.reasons:
                    v1.reasons[key] = f"{v1.reasons[key]}; v2: {v2.reasons[key]}"
        return v1

    def create(self, kernel_id: str, memory_bytes: int, max_pids: int) -> KernelCgroup:
        """Make the kernel's cgroups with their limits (0 means no limit)."""
        dirs: list[Path] = []
        memory_events: Path | None = None
        try:
            if self.memory_parent is not None:
                d = self.memory_parent / kernel_id
                d.mkdir()
                dirs.append(d)
                if self.version == "v2":
                    if memory_bytes:
                        (d / "memory.max").write_text(str(memory_bytes))
                        _write_if_exists(d / "memory.swap.max", "0")
                    memory_events = d / "memory.events"
                else:
                    if memory_bytes:
                        (d / "memory.limit_in_bytes").write_text(str(memory_bytes))
                        # Where swap is accounted, memory+swap too, or the limit leaks to swap.
                        _write_if_exists(d / "memory.memsw.limit_in_bytes", str(memory_bytes))
                    memory_events = d / "memory.oom_control"
            if self.pids_parent is not None:
                if self.version == "v2" and dirs:
                    d = dirs[0]  # one directory holds every v2 controller
                else:
                    d = self.pids_parent / kernel_id
                    d.mkdir()
                    dirs.append(d)
                if max_pids:
                    (d / "pids.max").write_text(str(max_pids))
        except OSError:
            KernelCgroup(tuple(dirs), None).remove()
            raise
        return KernelCgroup(tuple(dirs), memory_events)

    @property
    def parents(self) -> list[Path]:
        return sorted({p for p in (self.memory_parent, self.pids_parent) if p is not None})

    def sweep(self, min_age_seconds: float = SWEEP_MIN_AGE_SECONDS) -> None:
        """Remove kernel cgroups a crashed service left behind: empty, and old enough that
        no other live service sharing our cgroup can be just about to move a kernel in."""
        now = time.time()
        for parent in self.parents:
            with contextlib.suppress(OSError):
                for child in parent.iterdir():
                    with contextlib.suppress(OSError):
                        if not child.is_dir() or now - child.stat().st_mtime < min_age_seconds:
                            continue
                        procs = child / "cgroup.procs"
                        if not procs.exists() or not procs.read_text().strip():
                            child.rmdir()


def _write_if_exists(path: Path, value: str) -> None:
    if path.exists():
        with contextlib.suppress(OSError):
            path.write_text(value)


def _own_cgroups(text: str) -> dict[str, str]:
    """controller -> path from /proc/self/cgroup ("" is the v2 hierarchy)."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            own[""] = path
        for controller in controllers.split(","):
            if controller:
                own[controller] = path
    return own


def _make_parent(base: Path, name: str) -> Path:
    parent = base / name
    parent.mkdir(exist_ok=True)
    return parent


def _detect_v1(root: Path, own: dict[str, str], name: str) -> CgroupHost:
    host = CgroupHost(version="v1")
    for controller in ("memory", "pids"):
        mount = root / controller
        if controller not in own or not (mount / "cgroup.procs").exists():
            host.reasons[controller] = f"no cgroup v1 {controller} hierarchy"
            continue
        try:
            parent = _make_parent(mount / own[controller].lstrip("/"), name)
        except OSError as exc:
            host.reasons[controller] = f"cgroup v1 {controller} not writable: {exc.strerror}"
            continue
        setattr(host, f"{controller}_parent", parent)
    return host


def _detect_v2(root: Path, own_path: str | None, name: str) -> CgroupHost | None:
    if own_path is None:
        return None
    # Pure v2 mounts the unified hierarchy at /sys/fs/cgroup; hybrid hosts at .../unified.
    for mount in (root, root / "unified"):
        if (mount / "cgroup.controllers").exists():
            break
    else:
        return None
    host = CgroupHost(version="v2")
    base = mount / own_path.lstrip("/")
    try:
        available = set((base / "cgroup.controllers").read_text().split())
    except OSError as exc:
        host.reasons = {c: f"cgroup v2: {exc.strerror}" for c in ("memory", "pids")}
        return host
    wanted = [c for c in ("memory", "pids") if c in available]
    for controller in ("memory", "pids"):
        if controller not in available:
            host.reasons[controller] = f"cgroup v2 has no {controller} controller here"
    if not wanted:
        return host
    try:
        parent = _make_parent(base, name)
        # Controllers must be enabled on the way down: in our cgroup for the parent, in the
        # parent for the kernels. The first fails (EBUSY) if our cgroup holds processes and
        # is not the root: the service must then run in a delegated cgroup of its own.
        enable = " ".join(f"+{c}" for c in wanted)
        (base / "cgroup.subtree_control").write_text(enable)
        (parent / "cgroup.subtree_control").write_text(enable)
    except OSError as exc:
        for controller in wanted:
            host.reasons[controller] = (
                f"cgroup v2: cannot enable {controller} below {base} ({exc.strerror}); "
                "run PyExec in a delegated cgroup of its own"
            )
        return host
    for controller in wanted:
        setattr(host, f"{controller}_parent", parent)
    return host
