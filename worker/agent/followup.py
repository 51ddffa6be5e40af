"""Follow-up jobs: the parent's notebook, to replay in a fresh kernel and to show the model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nbformat

from pyexec.core import repository
from pyexec.core.models import Job
from pyexec.core.runtime import Runtime
from pyexec.notebooks import TITLE_TAG, CellRecord
from pyexec.worker.agent.inspection import INSPECTION_TAG
from pyexec.worker.agent.summary import clip, summarise_outputs

PARENT_TAG = "pyexec-parent"
FOLLOW_UP_TAG = "pyexec-follow-up"
TRANSCRIPT_CHARS = 12_000


@dataclass
class ParentRun:
    """The parent of a follow-up job, as stored when it ended."""

    job_id: str
    job: Job | None  # None: deleted since the follow-up was submitted
    cells: list[CellRecord] = field(default_factory=list)  # its notebook after the title
    file_ids: list[str] = field(default_factory=list)  # its inputs and its ancestors'


async def load_parent(runtime: Runtime, job: Job) -> ParentRun | None:
    if not job.parent_job_id:
        return None
    async with runtime.db.session() as session:
        parent = await repository.get_job(session, job.parent_job_id, job.account_id)
        if parent is None:
            return ParentRun(job.parent_job_id, None)
        # The parent's notebook replays its own parent's cells too, so their files are needed.
        file_ids = await repository.lineage_file_ids(session, parent, job.account_id)
    data = await runtime.storage.read_bytes(runtime.storage.notebook_path(parent.id))
    cells = await asyncio.to_thread(notebook_cells, data) if data else []
    return ParentRun(parent.id, parent, cells, file_ids)


def notebook_cells(data: bytes) -> list[CellRecord]:
    """A stored notebook's cells after its title cell, keeping ids, tags and metadata."""
    nb = nbformat.reads(data.decode(), as_version=4)
    records = []
    for cell in nb.cells:
        metadata: dict[str, Any] = {
            k: v for k, v in dict(cell.get("metadata") or {}).items() if k != "execution"
        }
        if TITLE_TAG in (metadata.get("tags") or []) or cell.cell_type not in ("code", "markdown"):
            continue
        records.append(
            CellRecord(
                cell_type=cell.cell_type,
                source=cell.source,
                outputs=[dict(o) for o in cell.get("outputs") or []],
                metadata=metadata,
                cell_id=cell.get("id"),
            )
        )
    return records


def inputs_of(job: Job, parent: ParentRun | None) -> Job:
    """The job as the input stager should see it: with its ancestors' files too."""
    if parent is None or not parent.file_ids:
        return job
    file_ids = list(dict.fromkeys([*parent.file_ids, *(job.file_ids or [])]))
    return Job(**{**job.model_dump(), "file_ids": file_ids})


def tags_of(cell: CellRecord) -> list[str]:
    return [*cell.tags, *(cell.metadata.get("tags") or [])]


def earlier_heading(parent: Job) -> str:
    lines = [f"## Earlier: {' '.join(parent.title.split()) or 'job ' + parent.id}"]
    if parent.prompt:
        lines += ["", *(f"> {line}".rstrip() for line in parent.prompt.strip().splitlines())]
    lines += ["", f"The cells of job `{parent.id}`, run again here."]
    return "\n".join(lines)


def follow_up_heading(prompt: str | None) -> str:
    if not prompt:
        return "## Follow-up"
    quoted = "\n".join(f"> {line}".rstrip() for line in prompt.strip().splitlines())
    return f"## Follow-up\n\n{quoted}"


def cells_as_text(cells: Sequence[CellRecord]) -> str:
    """Cells that already ran, for the model: prose, code and what each printed."""
    parts = []
    for cell in cells:
        if INSPECTION_TAG in tags_of(cell):
            continue  # the files are described on their own
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        part = f"```python\n{cell.source}\n```"
        if cell.outputs:
            part += "\nOutput:\n" + summarise_outputs(cell.outputs)
        parts.append(part)
    return clip("\n\n".join(parts), TRANSCRIPT_CHARS)
