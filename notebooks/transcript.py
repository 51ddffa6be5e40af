"""The transcript of one job: what a kernel ran and what it answered, before it is a notebook."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["CellRecord", "Transcript"]


@dataclass
class CellRecord:
    """One cell as it ran.

    `outputs` are nbformat v4 output dicts as the kernel produced them (including `transient`,
    `update_display_data` and `clear_output`); `build_notebook` normalises them. `timing` holds
    nbclient's `metadata.execution` keys (`iopub.status.busy`, `iopub.execute_input`,
    `shell.execute_reply`, `iopub.status.idle`) as ISO strings.
    """

    cell_type: Literal["code", "markdown"]
    source: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None
    timing: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # A follow-up job's notebook replays its parent's cells: passing the parent's ids keeps
    # them stable across both notebooks. None derives one from the job id and position.
    cell_id: str | None = None


@dataclass
class Transcript:
    """Everything needed to write a job's notebook. Naive datetimes are taken as UTC."""

    job_id: str
    title: str
    status: str
    cells: list[CellRecord]
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    kernelspec: dict[str, Any] | None = None
    language_info: dict[str, Any] | None = None
    error_message: str | None = None
    prompt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
