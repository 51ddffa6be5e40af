"""Placing a job's input files in its kernel's working directory.

The worker asks an `InputStager` for the job's files once a kernel is leased. The stager that
reads uploaded files from storage belongs with the files API; tests of the worker can stage
files from a folder of their own with `DirectoryInputs`.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pyexec.core.models import Job
from pyexec.kernels import KernelFiles


@dataclass(frozen=True)
class StagedFile:
    name: str  # the file's name inside the kernel's work dir
    bytes: int
    media_type: str


class InputStager(Protocol):
    async def stage(self, job: Job, files: KernelFiles) -> list[StagedFile]:
        """Place the job's files in its kernel's work dir, before any of its code runs."""
        ...


class NoInputs:
    """For deployments without a file store: a job naming files cannot run."""

    async def stage(self, job: Job, files: KernelFiles) -> list[StagedFile]:
        if job.file_ids:
            raise FileNotFoundError(f"no file store: cannot stage {job.file_ids[0]}")
        return []


class DirectoryInputs:
    """Files named by `file_ids` are copied from one folder (worker tests)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def stage(self, job: Job, files: KernelFiles) -> list[StagedFile]:
        staged = []
        for name in job.file_ids:
            base = Path(name).name
            size = await files.put(base, self.root / name)
            media_type = mimetypes.guess_type(base)[0] or "application/octet-stream"
            staged.append(StagedFile(base, size, media_type))
        return staged
