"""One unprivileged uid per live kernel, from a configured range, shared safely by services.

A uid is held with an exclusive `flock` on `<lock_dir>/<uid>`, so several PyExec services on
one host (or a restarted one) never hand out the same uid twice at once, and a crashed
service's locks vanish with it. The lock file says whether the last holder cleaned up: a uid
left "busy" (its holder crashed) is purged, every process of it killed, before it is used
again.

Killing every process of a uid is `kill(-1, SIGKILL)` run *as* that uid: the kernel holds
the task list while it signals, so even a fork bomb cannot slip a new process past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

CLEAN = b"clean"
BUSY = b"busy"
DEFAULT_LOCK_DIR = Path("/run/lock/pyexec-kernel-uids")
PURGE_TIMEOUT_SECONDS = 10.0


class NoFreeUidError(RuntimeError):
    """Every uid of the range is held by a live kernel."""


@dataclass
class UidLease:
    uid: int
    gid: int
    _fd: int | None

    def release(self, *, clean: bool) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if clean:
                os.pwrite(self._fd, CLEAN, 0)
                os.ftruncate(self._fd, len(CLEAN))
        os.close(self._fd)
        self._fd = None


class UidAllocator:
    """Hands out uids (gid = uid) from `range(first, first + count)`."""

    def __init__(self, first: int, count: int, lock_dir: Path = DEFAULT_LOCK_DIR) -> None:
        if first < 1 or count < 1:
            raise ValueError("the kernel uid range must be positive and non-empty")
        self.first = first
        self.count = count
        self.lock_dir = lock_dir
        # Start anywhere: services sharing the range rarely contend for the same uid.
        self._next = random.randrange(count)
        self._ready = False

    def describe(self) -> str:
        return f"uids {self.first}-{self.first + self.count - 1}"

    def _prepare(self) -> None:
        if self._ready:
            return
        self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = self.lock_dir.stat()
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise PermissionError(f"{self.lock_dir} must be owned by us and not shared")
        self._ready = True

    def acquire(self) -> tuple[UidLease, bool]:
        """A free uid, and whether it must be purged first (its last holder crashed)."""
        self._prepare()
        for _ in range(self.count):
            uid = self.first + self._next
            self._next = (self._next + 1) % self.count
            fd = os.open(self.lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            # A new (empty) lock file: no service has used this uid since boot (/run/lock
            # is emptied at boot, with every process).
            dirty = os.pread(fd, 16, 0) not in (CLEAN, b"")
            os.pwrite(fd, BUSY, 0)
            os.ftruncate(fd, len(BUSY))
            return UidLease(uid, uid, fd), dirty
        raise NoFreeUidError(f"all {self.count} kernel uids are in use ({self.describe()})")


def purge_command(uid: int, gid: int) -> list[str]:
    """A command that SIGKILLs every process of `uid` (it runs as that uid itself)."""
    setpriv, kill = shutil.which("setpriv"), shutil.which("kill")
    if setpriv and kill:
        return [
            setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
            kill, "-s", "KILL", "--", "-1",
        ]  # fmt: skip
    code = (
        "import os\n"
        f"os.setgroups([]); os.setresgid({gid}, {gid}, {gid}); os.setresuid({uid}, {uid}, {uid})\n"
        "try:\n    os.kill(-1, 9)\nexcept ProcessLookupError:\n    pass\n"
    )
    return [sys.executable, "-I", "-S", "-c", code]


async def purge(uid: int, gid: int) -> None:
    """Kill every process running as `uid` (none is fine)."""
    proc = await asyncio.create_subprocess_exec(
        *purge_command(uid, gid),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with asyncio.timeout(PURGE_TIMEOUT_SECONDS):
        await proc.wait()


def processes_of_uid(uid: int) -> list[int]:
    """Live (not zombie) processes with `uid` as any of their uids, read from /proc/*/status
    (a process's /proc dir is owned by root when it made itself non-dumpable)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as status:
                text = status.read().decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        if str(uid) in fields.get("Uid", "").split():
            found.append(int(entry.name))
    return found
