"""Request and response bodies of the public API (see API.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from pyexec.core.job_object import (
    Artifact,
    JobOut,
    JobStatusName,
    Usage,
    WebhookOut,
    as_utc,
)
from pyexec.core.models import File

__all__ = [
    "Artifact",
    "ErrorBody",
    "FileOut",
    "JobCreate",
    "JobList",
    "JobOut",
    "JobStatusName",
    "Usage",
    "WebhookOut",
    "as_utc",
]

MAX_CODE_BYTES = 1_000_000


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
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="When the job ends, its object is POSTed here, signed (`PyExec-Signature`); "
        "https only; loopback, private and link-local addresses are refused.",
    )


class JobList(BaseModel):
    data: list[JobOut]
    next_cursor: str | None


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
