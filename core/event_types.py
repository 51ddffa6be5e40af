"""A job's events (API.md, "Events"): one type per kind, built by whoever publishes them.

The API publishes `status` (pending, cancelled) and `cancel_requested`; the worker publishes
`status`, `cell_started`, `output`, `cell_finished` and `markdown`. A bus (`core.events`)
carries an event as its JSON, with an `id` added, and `parse_event` reads it back; the SSE
stream serves it as `event: <type>` and `data: <the JSON without the id>`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from pyexec.core.models import FINAL_STATUSES

_FINAL = frozenset(s.value for s in FINAL_STATUSES)


class _Event(BaseModel):
    def wire(self) -> dict[str, Any]:
        """The event's JSON, `type` first, as a bus carries it."""
        return self.model_dump(mode="json")


class StatusChanged(_Event):
    type: Literal["status"] = "status"
    status: str  # a JobStatus value


class CancelRequested(_Event):
    type: Literal["cancel_requested"] = "cancel_requested"


class CellStarted(_Event):
    type: Literal["cell_started"] = "cell_started"
    cell: int
    source: str


class CellOutput(_Event):
    """One output as the kernel sent it (nbformat v4), while the cell runs."""

    type: Literal["output"] = "output"
    cell: int
    output: dict[str, Any]


class CellFinished(_Event):
    type: Literal["cell_finished"] = "cell_finished"
    cell: int
    status: str  # the cell's execution status: ok, error, timeout, died, cancelled


class MarkdownAdded(_Event):
    type: Literal["markdown"] = "markdown"
    cell: int
    source: str


JobEvent = Annotated[
    StatusChanged | CancelRequested | CellStarted | CellOutput | CellFinished | MarkdownAdded,
    Field(discriminator="type"),
]

_EVENT: TypeAdapter[JobEvent] = TypeAdapter(JobEvent)


def parse_event(wire: dict[str, Any]) -> JobEvent:
    """An event as a bus delivered it (its `id` is left aside)."""
    return _EVENT.validate_python({k: v for k, v in wire.items() if k != "id"})


def is_final_status(event: JobEvent) -> bool:
    return isinstance(event, StatusChanged) and event.status in _FINAL
