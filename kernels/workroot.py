"""The pool's share of the kernels' work root, and what crashed pools left there.

Several pools may share one work root (`pyexec worker` processes on one data dir, a restart
beside a service still stopping), so each pool works in a directory of its own,
`<work root>/pool-<random>/`, and holds an exclusive `flock` on `<work root>/pool-<random>.lock`
for as long as it runs. A crash (`kill -9`, a power cut) releases the lock with the process;
the next pool to start on the work root deletes every directory whose lock nobody holds, with
all the kernel work dirs in it. Nothing of a job is lost by that: a job that was running is
run again, from the start, in a fresh kernel.

Deletion never follows a link (`shutil.rmtree` walks by descriptor), and a directory a
kernel made unreadable (`chmod 000`, which only a service that is not root cannot pass) is
made readable again through a descriptor before it is removed. No process is killed here:
what a crashed pool's kernels ran died with it (their parent-death signal, the uid purge).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "pool-"
LOCK_SUFFIX = ".lock"
# A lock file is made under this name and renamed once locked, so that a pool sweeping the
# work root never takes a lock being made for a lock left behind; past this age, a crash
# between the two steps left it.
CLAIMING_SUFFIX = ".lock-claiming"
CLAIMING_MAX_AGE_SECONDS = 3600.0
_OPEN_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC


class PoolDir:
    """This pool's directory in the work root, held for as long as the pool runs."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd

    @classmethod
    def claim(cls, work_root: Path) -> PoolDir:
        """Make and lock a directory of our own under `work_root` (blocking)."""
        work_root.mkdir(parents=True, exist_ok=True)
        # Both crossed by kernels of other uids on the way to their own dirs; listed by none.
        os.chmod(work_root, 0o711)
        name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
        claiming = work_root / f"{name}{CLAIMING_SUFFIX}"
        fd = os.open(claiming, _OPEN_FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(claiming, work_root / f"{name}{LOCK_SUFFIX}")
            path = work_root / name
            path.mkdir(mode=0o700)
            os.chmod(path, 0o711)  # after mkdir: its mode is filtered by the umask
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(claiming)
            raise
        return cls(path, fd)

    def release(self) -> None:
        """Remove the directory (the pool's kernels are gone) and drop the lock. Idempotent."""
        if self._lock_fd is None:
            return
        remove_tree(self.path)
        with contextlib.suppress(OSError):
            os.unlink(self.path.parent / f"{self.path.name}{LOCK_SUFFIX}")
        os.close(self._lock_fd)
        self._lock_fd = None


def sweep(work_root: Path) -> list[str]:
    """Delete what crashed pools left in `work_root` (blocking); returns the names removed.

    A directory whose lock is held belongs to a live pool and is left alone. A directory with
    no lock file at all was left by a version that kept kernel work dirs right in the work
    root.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(work_root))
    except FileNotFoundError:
        return removed
    names = {entry.name for entry in entries}
    for entry in entries:
        name = entry.name
        if name.endswith(CLAIMING_SUFFIX):
            with contextlib.suppress(OSError):
                if (
                    time.time() - entry.stat(follow_symlinks=False).st_mtime
                    > CLAIMING_MAX_AGE_SECONDS
                ):
                    os.unlink(entry.path)
            continue
        if name.endswith(LOCK_SUFFIX):
            if name.removesuffix(LOCK_SUFFIX) not in names:
                with _unheld_lock(work_root / name) as unheld:
                    if unheld:
                        os.unlink(entry.path)
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue  # nothing we make: leave it
        with _unheld_lock(work_root / f"{name}{LOCK_SUFFIX}") as unheld:
            if not unheld:
                continue
            remove_tree(Path(entry.path))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(work_root / f"{name}{LOCK_SUFFIX}")
            removed.append(name)
    return removed


@contextlib.contextmanager
def _unheld_lock(path: Path) -> Iterator[bool]:
    """True (and held meanwhile) when no live process holds the lock, or there is none."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        yield True
        return
    except OSError:
        yield False  # a link, or not ours: leave it
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """`shutil.rmtree` (descriptor-based, never follows a link), also through directories a
    kernel running as our own user made unreadable or unwritable. Missing is fine."""
    failed: list[str] = []

    def note(_function: object, failed_path: str, _exc: object) -> None:
        failed.append(failed_path)

    for _ in range(3):
        failed.clear()
        try:
            shutil.rmtree(path, onerror=note)
        except FileNotFoundError:
            return
        if not failed or not os.path.lexists(path) or os.geteuid() == 0:
            break  # root passes any mode: what failed is not a matter of permissions
        for failed_path in failed:
            if Path(failed_path).is_relative_to(path):
                _make_traversable(Path(failed_path))
    if os.path.lexists(path):
        log.warning("could not remove all of %s", path)


def _make_traversable(path: Path) -> None:
    """chmod u+rwx a directory (and its parent) through an O_PATH descriptor opened without
    following links: a name swapped for a link is never chmodded through."""
    for candidate in (path.parent, path):
        try:
            fd = os.open(candidate, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            mode = os.stat(fd).st_mode
            if stat.S_ISDIR(mode) and mode & 0o700 != 0o700:
                os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(mode) | 0o700)
        except OSError:
            pass
        finally:
            os.close(fd)
