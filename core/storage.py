"""Where uploaded files, job notebooks and artifacts live: the data dir (a volume shared when
scaled out). Paths under it are built only here."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import BinaryIO

# Uploads are written in pieces of about this size: big enough that a thread hop per write
# costs nothing, small enough that memory stays flat whatever the file's size.
WRITE_BUFFER_BYTES = 1024 * 1024
HEAD_BYTES = 8192


# The data dir may be crossed (kernels of other uids reach their work dirs inside it where the
# sandbox binds no view of its own) but not listed; all within is the service's alone.
DATA_DIR_MODE = 0o711
WORK_ROOT_NAME = "work"


def make_private_dir(data_dir: Path) -> None:
    """Create the data dir, or make an existing one private: its database, keys, files and
    notebooks readable by the service's user alone (older versions left them 0644)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, DATA_DIR_MODE)
    for entry in os.scandir(data_dir):
        if entry.name == WORK_ROOT_NAME or entry.is_symlink():
            continue  # the kernel pool keeps the work root's mode itself
        os.chmod(entry.path, 0o700 if entry.is_dir() else 0o600)


class UploadTooLarge(ValueError):
    """An upload went over its byte limit; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"over the limit of {limit} bytes")
        self.limit = limit


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- jobs --------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def notebook_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "notebook.ipynb"

    def notebook_html_path(self, job_id: str) -> Path:
        # Versioned: a page cached by an older sanitiser is rendered again, not served.
        return self.job_dir(job_id) / "notebook.v2.html"

    def artifact_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "artifacts"

    def artifact_path(self, job_id: str, name: str) -> Path:
        """Where artifact `name` (a relative posix path, e.g. `out/summary.csv`) lives.

        Raises ValueError for a name that would leave the job's artifact dir.
        """
        return self.artifact_dir(job_id).joinpath(*safe_relative_parts(name))

    async def clear_artifacts(self, job_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.artifact_dir(job_id), True)

    async def delete_job(self, job_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.job_dir(job_id), True)

    # -- uploaded files ----------------------------------------------------------------

    def file_path(self, file_id: str) -> Path:
        parts = safe_relative_parts(file_id)
        if len(parts) != 1 or file_id.startswith("."):
            raise ValueError(f"not a file id: {file_id!r}")
        return self.root / "files" / file_id

    def incoming_dir(self) -> Path:
        # Beside the files, so that landing an upload is a rename on one file system.
        return self.root / "files" / ".incoming"

    async def sweep_incoming(self, older_than_seconds: float) -> int:
        """Delete the uploads a crash left half-written (untouched for `older_than_seconds`:
        another process may be receiving the recent ones); how many were deleted."""
        return await asyncio.to_thread(_sweep, self.incoming_dir(), older_than_seconds)

    def scratch_dir(self) -> Path:
        return self.root / "tmp"

    def incoming(self, limit: int) -> IncomingFile:
        return IncomingFile(self, limit)

    async def delete_file(self, file_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.file_path(file_id).unlink)

    # -- bytes -------------------------------------------------------------------------

    async def write_bytes(self, path: Path, data: bytes) -> None:
        await asyncio.to_thread(_atomic_write, path, data)

    async def read_bytes(self, path: Path) -> bytes | None:
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def copy_stream(self, source: BinaryIO, target: Path, size: int) -> None:
        """Copy exactly `size` bytes of `source` (a blocking file object) into storage;
        readers see all of it or nothing. ValueError if `source` holds more or less."""
        await asyncio.to_thread(_atomic_copy, source, target, size)


class IncomingFile:
    """An upload being received: counted, hashed and written to a temp file as it streams,
    then landed under its id with one rename. Over the limit, it is deleted at once."""

    def __init__(self, storage: Storage, limit: int) -> None:
        self.storage = storage
        self.limit = limit
        self.bytes = 0
        self.head = b""
        self._sha256 = hashlib.sha256()
        self._buffer = bytearray()
        self._path: Path | None = None

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    async def write(self, data: bytes) -> None:
        """Raises UploadTooLarge (after deleting what was written) past the limit."""
        if not data:
            return
        self.bytes += len(data)
        if self.bytes > self.limit:
            await self.discard()
            raise UploadTooLarge(self.limit)
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self._sha256.update(data)
        self._buffer += data
        if len(self._buffer) >= WRITE_BUFFER_BYTES:
            await self._flush()

    async def commit(self, file_id: str) -> None:
        await self._flush()
        target = self.storage.file_path(file_id)
        path = self._path
        self._path = None
        await asyncio.to_thread(_land, path, target)

    async def discard(self) -> None:
        self._buffer.clear()
        path, self._path = self._path, None
        if path is not None:
            await asyncio.to_thread(_unlink, path)

    async def _flush(self) -> None:
        if self._path is None:
            self._path = await asyncio.to_thread(_new_incoming, self.storage.incoming_dir())
        data, self._buffer = bytes(self._buffer), bytearray()
        if data:
            await asyncio.to_thread(_append, self._path, data)


def safe_relative_parts(name: str) -> tuple[str, ...]:
    """The parts of a relative posix path that stays below where it is joined."""
    # Split by hand: PurePosixPath would quietly drop "." and empty parts.
    parts = tuple(name.split("/"))
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise ValueError(f"not a safe relative path: {name!r}")
    return parts


def _new_incoming(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.part"
    path.touch(mode=0o600, exist_ok=False)
    return path


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def _land(path: Path | None, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if path is None:  # an empty upload never opened a temp file
        _atomic_write(target, b"")
        return
    os.replace(path, target)


def _sweep(directory: Path, older_than_seconds: float) -> int:
    deadline = time.time() - older_than_seconds
    swept = 0
    for path in directory.glob("*.part"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < deadline:
                path.unlink()
                swept += 1
    return swept


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    # Write-then-rename so a reader never sees half a notebook, even across a crash.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _atomic_copy(source: BinaryIO, target: Path, size: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        left = size
        with tmp.open("wb") as out:
            while left > 0:
                chunk = source.read(min(left, WRITE_BUFFER_BYTES))
                if not chunk:
                    raise ValueError(f"{size - left} bytes where {size} were expected")
                out.write(chunk)
                left -= len(chunk)
        if source.read(1):
            raise ValueError(f"more than the {size} bytes expected")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
