"""Files a job wrote in its working directory, and the caps on what a job may keep."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from core.files import human_bytes

__all__ = ["ArtifactBudget", "Scan", "WrittenFile", "find_written_files"]

# A job that writes a million files must not stall the worker listing them all.
MAX_SCANNED_FILES = 10_000
# Directories of tooling, not results: Python's bytecode caches.
_SKIPPED_DIRS = frozenset({"__pycache__"})


@dataclass(frozen=True)
class WrittenFile:
    name: str  # relative posix path inside the work dir, e.g. "out/summary.csv"
    path: Path
    bytes: int


@dataclass
class Scan:
    files: list[WrittenFile]
    unusable: list[str]  # names that cannot be artifacts (not UTF-8, backslashes, ...)
    truncated: bool  # stopped after MAX_SCANNED_FILES


def find_written_files(work_dir: Path, inputs: set[str]) -> Scan:
    """Regular files under `work_dir`, by name, that are not the job's inputs (blocking).

    Dot-entries are skipped: the kernel's HOME and TMPDIR live in the work dir (`.tmp`,
    `.ipython`, `.cache`, `.config`), and hidden files are not results. Symlinks are never
    followed: one pointing at /etc/passwd must not become a downloadable artifact.
    """
    files: list[WrittenFile] = []
    unusable: list[str] = []
    truncated = False
    for root, dirs, names in os.walk(work_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        relative_root = Path(root).relative_to(work_dir)
        for name in sorted(names):
            if name.startswith("."):
                continue
            relative = (relative_root / name).as_posix()
            if relative in inputs:
                continue
            path = Path(root) / name
            try:
                info = path.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if not _usable_name(relative):
                unusable.append(relative.encode(errors="replace").decode(errors="replace"))
                continue
            if len(files) >= MAX_SCANNED_FILES:
                truncated = True
                break
            files.append(WrittenFile(relative, path, info.st_size))
        if truncated:
            break
    files.sort(key=lambda f: f.name)
    return Scan(files, unusable, truncated)


def _usable_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept by os as surrogates
        return False
    return "\\" not in name and not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)


class ArtifactBudget:
    """The per-job caps: at most `max_files` artifacts and `max_bytes` in all."""

    def __init__(self, max_files: int, max_bytes: int) -> None:
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.files = 0
        self.bytes = 0

    def refuse(self, size: int) -> str | None:
        """Why an artifact of `size` bytes cannot be kept, or None after counting it in."""
        if self.files >= self.max_files:
            return f"the job's cap of {self.max_files} artifacts was reached"
        if self.bytes + size > self.max_bytes:
            return (
                f"it would take the job's artifacts over their cap of {human_bytes(self.max_bytes)}"
            )
        self.files += 1
        self.bytes += size
        return None
