"""`KernelFiles`: how the service moves files into and out of one kernel's work dir.

The seam is narrow on purpose: the service stages a job's inputs before any of the job's code
runs (`put`), and once the job's code is over it lists and reads what the job wrote
(`collect`). Everything else a backend does with its kernels' files stays behind it: local
kernels share the service's disk (`kernels.workdir.HostWorkDir`), remote ones may not.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = ["Collected", "FileUnavailableError", "FoundFile", "KernelFiles"]

# A job that writes a million files must not stall the worker listing them all.
MAX_FOUND_FILES = 10_000
# Deeper than this, a tree is a trap (or a mistake), not results.
MAX_DEPTH = 32
# Directories of tooling, not results: Python's bytecode caches.
SKIPPED_DIRS = frozenset({"__pycache__"})
MAX_NOTED = 50


class FileUnavailableError(OSError):
    """A file cannot be moved into or out of a kernel; the message says why."""


@dataclass(frozen=True)
class FoundFile:
    name: str  # relative posix path inside the work dir, e.g. "out/summary.csv"
    bytes: int


@dataclass
class Collected:
    """What a job left in its work dir, ready to be read (see `KernelFiles.collect`)."""

    files: list[FoundFile] = field(default_factory=list)
    # "name: why" for what was found but cannot be kept (links, FIFOs, names that cannot be
    # served); at most MAX_NOTED of them, then `skipped_more` counts the rest.
    skipped: list[str] = field(default_factory=list)
    skipped_more: int = 0
    truncated: bool = False  # stopped after MAX_FOUND_FILES files or at MAX_DEPTH
    # Why nothing could be read (e.g. the kernel's processes could not be stopped).
    refused: str | None = None
    _opener: KernelFiles | None = None

    def skip(self, name: str, why: str) -> None:
        if len(self.skipped) < MAX_NOTED:
            self.skipped.append(f"{name}: {why}")
        else:
            self.skipped_more += 1

    def open(self, found: FoundFile) -> AbstractAsyncContextManager[BinaryIO]:
        """The content of `found`: a regular file of exactly `found.bytes` bytes, or
        FileUnavailableError. Read it in a thread: the file object is blocking."""
        if self._opener is None:
            raise FileUnavailableError(self.refused or "nothing was collected")
        return self._opener.open_found(found)


class KernelFiles(ABC):
    """One kernel's work dir, as the service may touch it."""

    @abstractmethod
    async def put(self, name: str, source: Path, *, mode: int = 0o444) -> int:
        """Place a copy of `source` (a file of the service's) in the work dir as `name`, a
        plain file name. Never overwrites and never follows a link; returns its size."""

    @abstractmethod
    def collect(self, exclude: Collection[str]) -> AbstractAsyncContextManager[Collected]:
        """The regular files the kernel wrote, by name, but `exclude`, dot-entries and
        bytecode caches.

        Entering it ends the job's code for good: no cell may run in the kernel afterwards.
        A backend that reads the kernel's files from the service's own disk stops every
        process of the kernel before it reads one, so that nothing changes while the service
        reads (with nothing to read, it may leave the kernel to its disposal); files are
        opened without following links, and only regular files of one link are read.
        """

    @abstractmethod
    def open_found(self, found: FoundFile) -> AbstractAsyncContextManager[BinaryIO]:
        """For `Collected.open`: only valid inside `collect`."""
