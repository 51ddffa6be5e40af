"""`HostWorkDir`: a local kernel's work dir, touched by the service as safely as user code
demands.

Whatever user code can write, it can use as a trap for the service, which often runs as root:
a symbolic link to a secret (or to the service's own database, whose locks a stray open and
close would drop), a FIFO that blocks a reader, a link to /dev/zero that never ends, a hard
link, a directory swapped for a link while the service walks the tree, a file that grows while
it is copied. So, here:

* nothing is read until every process of the kernel is gone (`stop`, which the backend makes
  as exact as the host allows: a cgroup, a uid of its own); the one look before is a listing
  of the top directory (`holds_nothing`), which reads no file and follows no link, and only
  spares the stop when there is nothing to read;
* every path is opened one component at a time, relative to a directory descriptor, with
  `O_NOFOLLOW`: no symbolic link is ever followed, wherever it sits in the path;
* only regular files with a single link are read, from the descriptor that was checked,
  never again by path, and never more bytes than were listed;
* inputs are created with `O_CREAT | O_EXCL | O_NOFOLLOW` and their mode set with `fchmod`.

Deleting a work dir is `shutil.rmtree`, whose descriptor-based walk never follows links.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import stat
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Generator,
    Iterator,
    Mapping,
)
from pathlib import Path
from typing import BinaryIO

from pyexec.kernels.execution import Execution
from pyexec.kernels.files import (
    MAX_DEPTH,
    MAX_FOUND_FILES,
    SKIPPED_DIRS,
    Collected,
    FileUnavailableError,
    FoundFile,
    KernelFiles,
)

log = logging.getLogger(__name__)

# More entries than this in the top directory: `holds_nothing` leaves it to the full scan.
GLANCE_ENTRIES = 256
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: a tty never becomes ours.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_COPY_CHUNK = 1024 * 1024

# Stops every process of the kernel; True when the backend verified that none is left.
StopKernel = Callable[[], Awaitable[bool]]
# Evaluates expressions in the kernel (a silent cell's `user_expressions`) with a timeout, for
# backends whose files travel over the kernel's own channel (`kernels.gateway.transfer`).
EvaluateInKernel = Callable[[Mapping[str, str], float], Awaitable[Execution]]


class HostWorkDir(KernelFiles):
    """The work dir of a kernel on this machine.

    `must_stop`: the kernel runs with rights other than the service's (its own uid), so its
    files are read only once `stop` has verified that none of its processes is left. A kernel
    running as the service's own user can read whatever the service could; then a `stop` that
    cannot vouch for stray processes does not prevent reading (with the same care).
    """

    def __init__(self, work_dir: Path, stop: StopKernel, *, must_stop: bool) -> None:
        self.work_dir = Path(work_dir)
        self._stop = stop
        self._must_stop = must_stop
        self._collecting = False

    async def put(self, name: str, source: Path, *, mode: int = 0o444) -> int:
        return await asyncio.to_thread(self._put, name, source, mode)

    def _put(self, name: str, source: Path, mode: int) -> int:
        if not name or "/" in name or name in (".", "..") or "\x00" in name:
            raise FileUnavailableError(f"not a plain file name: {name!r}")
        with _opened_dir(self.work_dir) as root, open(source, "rb") as src:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = os.open(name, flags, 0o600, dir_fd=root)
            except FileExistsError:
                raise FileUnavailableError(f"'{name}' already exists in the work dir") from None
            with os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, _COPY_CHUNK)
                dst.flush()
                os.fchmod(fd, mode)
                return os.fstat(fd).st_size

    @contextlib.asynccontextmanager
    async def collect(self, exclude: Collection[str]) -> AsyncIterator[Collected]:
        excluded = frozenset(exclude)
        # Most jobs write no file: then there is nothing to protect a read from, and the
        # kernel dies with its lease, off the job's path (the stop was 12-23 ms of a trivial
        # job). A file the kernel writes after this look is not kept, as after a stop.
        if await asyncio.to_thread(holds_nothing, self.work_dir, excluded):
            yield Collected()
            return
        gone = await self._stop()
        if not gone and self._must_stop:
            log.warning(
                "kernel in %s: its processes could not all be stopped; its files are not read",
                self.work_dir,
            )
            yield Collected(refused="the kernel's processes could not be stopped")
            return
        collected = await asyncio.to_thread(scan, self.work_dir, excluded)
        collected._opener = self
        self._collecting = True
        try:
            yield collected
        finally:
            self._collecting = False
            collected._opener = None

    @contextlib.asynccontextmanager
    async def open_found(self, found: FoundFile) -> AsyncIterator[BinaryIO]:
        if not self._collecting:
            raise FileUnavailableError("files are read only while they are collected")
        handle = await asyncio.to_thread(open_beneath, self.work_dir, found.name)
        try:
            info = os.fstat(handle.fileno())
            if info.st_size != found.bytes:
                raise FileUnavailableError(f"'{found.name}' changed after it was listed")
            yield handle
        finally:
            handle.close()


def holds_nothing(work_dir: Path, exclude: frozenset[str] = frozenset()) -> bool:
    """Whether `scan` would find nothing, neither a file to keep nor one to name as skipped,
    from one listing of the top directory (blocking): only dot-entries, skipped dirs and
    `exclude`d non-directories. Reads no file and follows no link: the kernel may still run.
    False when unsure (an entry it cannot type, a crowded directory)."""
    try:
        with _opened_dir(work_dir) as root, os.scandir(root) as entries:
            for seen, entry in enumerate(entries):
                if seen >= GLANCE_ENTRIES:
                    return False
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIPPED_DIRS:
                        return False
                elif entry.name not in exclude:
                    return False
    except (OSError, FileUnavailableError):
        return False
    return True


def scan(work_dir: Path, exclude: frozenset[str] = frozenset()) -> Collected:
    """The regular files under `work_dir` (blocking), walked by descriptor, links not followed.

    Dot-entries are skipped: the kernel's HOME and TMPDIR live in the work dir (`.tmp`,
    `.ipython`, `.cache`, `.config`), and hidden files are not results.
    """
    found = Collected()
    with _opened_dir(work_dir) as root, contextlib.closing(_walk(root, found)) as walk:
        for relative, dir_fd, names in walk:
            for name in names:
                path = f"{relative}{name}"
                if name.startswith(".") or path in exclude:
                    continue
                try:
                    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue
                printable = path.encode(errors="replace").decode(errors="replace")
                if not stat.S_ISREG(info.st_mode):
                    found.skip(printable, f"not kept: {_kind(info.st_mode)}")
                    continue
                if info.st_nlink != 1:
                    found.skip(printable, "not kept: a file with several names (hard links)")
                    continue
                if not usable_name(path):
                    found.skip(printable, "its name cannot be served")
                    continue
                if len(found.files) >= MAX_FOUND_FILES:
                    found.truncated = True
                    return found
                found.files.append(FoundFile(path, info.st_size))
    found.files.sort(key=lambda f: f.name)
    return found


def _walk(root: int, found: Collected) -> Generator[tuple[str, int, list[str]], None, None]:
    """Depth first: (relative prefix, the directory's descriptor, its non-directory entries).

    At most MAX_DEPTH descriptors are open at once: a child is opened from its parent's
    descriptor only when it is visited.
    """
    stack: list[tuple[str, int, Iterator[str], bool]] = []

    def enter(prefix: str, fd: int) -> list[str]:
        dirs: list[str] = []
        others: list[str] = []
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                (dirs if is_dir else others).append(entry.name)
        subdirs = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        stack.append((prefix, fd, iter(subdirs), fd != root))
        return sorted(others)

    try:
        yield "", root, enter("", root)
        yield from _descend(stack, enter, found)
    finally:
        for _, fd, _, owned in stack:
            if owned:
                os.close(fd)


def _descend(
    stack: list[tuple[str, int, Iterator[str], bool]],
    enter: Callable[[str, int], list[str]],
    found: Collected,
) -> Iterator[tuple[str, int, list[str]]]:
    while stack:
        prefix, fd, subdirs, owned = stack[-1]
        name = next(subdirs, None)
        if name is None:
            stack.pop()
            if owned:
                os.close(fd)
            continue
        if len(stack) >= MAX_DEPTH:
            found.truncated = True
            continue
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError:  # swapped for a link, or gone
            continue
        try:
            others = enter(f"{prefix}{name}/", child)
        except OSError:
            os.close(child)
            continue
        yield f"{prefix}{name}/", child, others


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_beneath(work_dir: Path, name: str) -> BinaryIO:
    """Open `name`, a relative posix path, inside `work_dir` without following any link:
    a regular file with one link, or FileUnavailableError."""
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts) or "\x00" in name:
        raise FileUnavailableError(f"not a path inside the work dir: {name!r}")
    fds: list[int] = []
    try:
        fd = os.open(work_dir, _DIR_FLAGS)
        fds.append(fd)
        for part in parts[:-1]:
            fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            fds.append(fd)
        file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise FileUnavailableError(f"'{name}' cannot be opened safely ({exc.strerror})") from None
    finally:
        for opened in fds:
            os.close(opened)
    info = os.fstat(file_fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(file_fd)
        raise FileUnavailableError(f"'{name}' is not a regular file")
    os.set_blocking(file_fd, True)
    return os.fdopen(file_fd, "rb")


def usable_name(name: str) -> bool:
    """A name an artifact URL can carry: UTF-8, no backslash, no control character."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept by os as surrogates
        return False
    return "\\" not in name and not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)


@contextlib.contextmanager
def _opened_dir(path: Path) -> Iterator[int]:
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise FileUnavailableError(f"the work dir cannot be opened ({exc.strerror})") from None
    try:
        yield fd
    finally:
        os.close(fd)
