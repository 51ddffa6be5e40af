"""Where job notebooks and artifacts live: the data dir (a volume shared when scaled out)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def notebook_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "notebook.ipynb"

    def artifact_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "artifacts"

    async def write_bytes(self, path: Path, data: bytes) -> None:
        await asyncio.to_thread(_atomic_write, path, data)

    async def read_bytes(self, path: Path) -> bytes | None:
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete_job(self, job_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.job_dir(job_id), True)


def _atomic_write(path: Path, data: bytes) -> None:
    # Write-then-rename so a reader never sees half a notebook, even across a crash.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
