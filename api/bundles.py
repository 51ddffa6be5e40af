"""Assembling a job's bundle zip from what storage holds: notebook, inputs, written files."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat

from pyexec.api.downloads import download_name
from pyexec.core import repository
from pyexec.core.models import Job
from pyexec.core.runtime import Runtime
from pyexec.notebooks import BundleFile, write_bundle

STALE_BUNDLE_SECONDS = 3600


async def build_bundle(runtime: Runtime, job: Job, notebook: bytes) -> Path:
    """Write the job's bundle to a temporary file and return its path (the caller deletes it).

    Built on request rather than stored: an input deleted since the job ran is then really
    gone (the README says so) instead of living on inside a stored zip.
    """
    storage = runtime.storage
    nb = await asyncio.to_thread(nbformat.reads, notebook.decode("utf-8"), as_version=4)
    staged: dict[str, str] = {
        str(i.get("file_id")): str(i.get("name"))
        for i in (nb.metadata.get("pyexec") or {}).get("inputs") or []
        if isinstance(i, dict)
    }
    # What the job's kernel held: a follow-up's notebook also lists its parents' files, whose
    # cells it replays.
    file_ids = list(dict.fromkeys([*staged, *(job.file_ids or [])]))
    async with runtime.db.session() as session:
        files = await repository.get_files(session, file_ids, job.account_id)
    inputs: list[BundleFile] = []
    missing: list[str] = []
    for file_id in file_ids:
        row = files.get(file_id)
        name = staged.get(file_id) or (row.filename if row is not None else file_id)
        path = storage.file_path(row.id) if row is not None else None
        if path is not None and path.is_file():
            inputs.append(BundleFile(name, path))
        else:
            missing.append(name)
    generated = [
        BundleFile(a["name"], path)
        for a in job.artifacts or []
        if _written_by_code(a) and (path := _artifact_path(runtime, job, a)) is not None
    ]
    target = storage.scratch_dir() / f"bundle-{uuid.uuid4().hex}.zip"
    await asyncio.to_thread(_prepare_scratch, target.parent)
    try:
        await asyncio.to_thread(
            write_bundle,
            target,
            name=download_name(job),
            notebook=nb,
            inputs=inputs,
            generated=generated,
            missing_inputs=missing,
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _prepare_scratch(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # A download the client abandoned never runs its clean-up task: sweep what it left.
    cutoff = time.time() - STALE_BUNDLE_SECONDS
    for stale in directory.glob("bundle-*.zip"):
        with contextlib.suppress(FileNotFoundError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def _written_by_code(artifact: dict[str, Any]) -> bool:
    # Figures live inside the notebook already; only files the code wrote go beside it.
    return artifact.get("kind") == "file"


def _artifact_path(runtime: Runtime, job: Job, artifact: dict[str, Any]) -> Path | None:
    try:
        path = runtime.storage.artifact_path(job.id, str(artifact.get("name")))
    except ValueError:
        return None
    return path if path.is_file() else None
