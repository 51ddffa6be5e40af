"""The job object of the public API (API.md, "GET /v1/jobs/{id}"): what the API returns and
what a webhook POSTs, built in one place from the job's row (and its webhook delivery)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from pyexec.core.models import Job, JobStatus, WebhookDelivery, WebhookStatus
from pyexec.core.output_types import Output

JobStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
WebhookStatusName = Literal["pending", "delivered", "failing", "gave_up"]


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


class WebhookOut(BaseModel):
    """Where the job object goes when the job ends, and how its delivery stands."""

    url: str
    status: WebhookStatusName = Field(
        description="pending (the job has not ended, or the first attempt is under way), "
        "delivered (a 2xx answer), failing (retrying with backoff), gave_up (not delivered "
        "within the retry window)."
    )
    attempts: int
    last_error: str | None = Field(
        description="Why the last attempt failed (`HTTP 500`, a timeout, a refused address)."
    )

    @classmethod
    def of(cls, job: Job, delivery: WebhookDelivery | None) -> WebhookOut | None:
        if job.webhook_url is None:
            return None
        if delivery is None:
            return cls(url=job.webhook_url, status="pending", attempts=0, last_error=None)
        return cls(
            url=delivery.url,
            status=WebhookStatus(delivery.status).value,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
        )


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
    webhook: WebhookOut | None = Field(
        default=None, description="The job's webhook delivery; null without a webhook_url."
    )

    @field_serializer("created_at", "started_at", "completed_at")
    def _iso(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @classmethod
    def from_job(
        cls, job: Job, *, notebook_ready: bool, delivery: WebhookDelivery | None = None
    ) -> JobOut:
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
            webhook=WebhookOut.of(job, delivery),
        )

    @classmethod
    def of(cls, job: Job, delivery: WebhookDelivery | None = None) -> JobOut:
        """The job object as every reader sees it: the notebook is there once a job that ran
        has ended."""
        ran = job.started_at is not None
        return cls.from_job(
            job, notebook_ready=ran and JobStatus(job.status).is_final, delivery=delivery
        )


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything PyExec stores is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
