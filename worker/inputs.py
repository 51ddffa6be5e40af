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

from core.models import Job
from kernels import KernelFiles

# Run silently in each job's kernel before its first cell, so that job code's plain
# `pd.read_excel` reads every Excel file staged here: .xls through python-calamine (pandas
# deprecates xlrd, which is not installed); .xlsx stays with openpyxl, pandas' default, on
# which it would otherwise warn at each read that the default is to become calamine.
EXCEL_SETUP_CODE = """\
import pandas as _pd

_pd.set_option("io.excel.xls.reader", "calamine")
_pd.set_option("io.excel.xlsx.reader", "openpyxl")
del _pd
"""


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
