"""Request and response bodies of the public API (see API.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from pyexec.core.models import File, Job
from pyexec.core.output_types import Output

MAX_CODE_BYTES = 1_000_000

JobStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorInfo(BaseModel):
    code: str = Field(examples=["invalid_request"])
    message: str
    status: int
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    error: ErrorInfo


class JobCreate(BaseModel):
    # Strict: `"priority": true` or `"10"` is a client's bug to hear about, not to guess at.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)

    prompt: str | None = Field(default=None, min_length=1, max_length=20_000)
    title: str | None = Field(default=None, max_length=200)
    priority: int = Field(default=5, ge=1, le=10, description="10 is the most urgent.")
    file_ids: list[str] = Field(default_factory=list, max_length=100)
    code: str | None = Field(default=None, max_length=MAX_CODE_BYTES)
    timeout_seconds: int | None = Field(default=None, ge=1, le=86_400)
    parent_job_id: str | None = Field(default=None, max_length=64)


class Artifact(BaseModel):
    name: str
    media_type: str
    bytes: int
    url: str


class Usage(BaseModel):
    model_config = ConfigDict(extra="allow")

    cells: int = 0
    execution_ms: int = 0
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0


class JobOut(BaseModel):
    id: str
    status: JobStatusName
    title: str
    prompt: str | None
    code: str | None
    priority: int
    timeout_seconds: int
    parent_job_id: str | None
    file_ids: list[str]
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    result: str | None
    error_message: str | None
    outputs: list[Output | dict[str, Any]]
    artifacts: list[Artifact]
    notebook_url: str | None
    usage: Usage
    ungrounded_numbers: list[str] = Field(
        default_factory=list,
        description="Numbers in `result`, as written there, that appear in no output of the "
        "job's cells (rounding allowed); empty when every number is traced to a computation.",
    )

    @field_serializer("created_at", "started_at", "completed_at")
    def _iso(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @classmethod
    def from_job(cls, job: Job, *, notebook_ready: bool) -> JobOut:
        usage = {
            "cells": 0,
            "execution_ms": 0,
            "llm_prompt_tokens": 0,
            "llm_completion_tokens": 0,
            **(job.usage or {}),
        }
        return cls(
            id=job.id,
            status=job.status,  # type: ignore[arg-type]
            title=job.title,
            prompt=job.prompt,
            code=job.code,
            priority=job.priority,
            timeout_seconds=job.timeout_seconds,
            parent_job_id=job.parent_job_id,
            file_ids=list(job.file_ids or []),
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            result=job.result,
            error_message=job.error_message,
            outputs=list(job.outputs or []),
            artifacts=[Artifact(**a) for a in job.artifacts or []],
            notebook_url=f"/v1/jobs/{job.id}/notebook" if notebook_ready else None,
            usage=Usage(**usage),
            ungrounded_numbers=list(job.ungrounded_numbers or []),
        )


class JobList(BaseModel):
    data: list[JobOut]
    next_cursor: str | None


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything PyExec stores is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class FileOut(BaseModel):
    id: str = Field(examples=["file_4f1c9b0e2d8a4c55a1e3f0b6c7d8e9fa"])
    filename: str = Field(description="Sanitised: no directories, no control characters.")
    bytes: int
    media_type: str = Field(examples=["text/csv"])
    sha256: str
    created_at: datetime

    @field_serializer("created_at")
    def _iso(self, value: datetime) -> str:
        return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @classmethod
    def from_file(cls, file: File) -> FileOut:
        return cls(
            id=file.id,
            filename=file.filename,
            bytes=file.bytes,
            media_type=file.media_type,
            sha256=file.sha256,
            created_at=file.created_at,
        )


class FileList(BaseModel):
    data: list[FileOut]
    next_cursor: str | None


# A download whose media type is the stored file's own (any type at all).
BINARY_CONTENT: dict[str, Any] = {
    "description": "The bytes, served with their detected media type",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
}


def error_responses(
    not_found: str | None = None,
    *,
    forbidden: str = "The key lacks the scope",
    invalid: bool = True,
) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of a /v1 router, in the error model's body."""
    responses: dict[int | str, dict[str, Any]] = {}
    if invalid:
        responses[400] = {"model": ErrorBody, "description": "Invalid request"}
    responses[401] = {"model": ErrorBody, "description": "Missing or invalid API key"}
    responses[403] = {"model": ErrorBody, "description": forbidden}
    if not_found is not None:
        responses[404] = {"model": ErrorBody, "description": not_found}
    return responses
