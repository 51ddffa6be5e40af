"""What the jobs router does beyond HTTP: validating a submission, waiting for a final status."""

from __future__ import annotations

import asyncio
import contextlib
import re

from api.errors import Conflict, InvalidRequest, NotFound
from api.schemas import MAX_CODE_BYTES, JobCreate
from core import repository
from core.events import STATUS
from core.models import Job, JobStatus
from core.runtime import Runtime

TITLE_FROM_PROMPT_CHARS = 80


def derive_title(body: JobCreate) -> str:
    if body.title and body.title.strip():
        return body.title.strip()
    if body.prompt:
        first = body.prompt.strip().splitlines()[0] if body.prompt.strip() else ""
        sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
        if len(sentence) > TITLE_FROM_PROMPT_CHARS:
            sentence = sentence[: TITLE_FROM_PROMPT_CHARS - 1].rstrip() + "…"
        if sentence:
            return sentence
    if body.code:
        for line in body.code.splitlines():
            stripped = line.strip()
            if stripped.startswith("#") and stripped.lstrip("#% ").strip():
                return stripped.lstrip("#% ").strip()[:TITLE_FROM_PROMPT_CHARS]
    return "Code job"


def check_submission(body: JobCreate, runtime: Runtime) -> None:
    """Reject what cannot run, before a row exists: bad input never becomes a failed job."""
    if body.prompt is None and body.code is None:
        raise InvalidRequest(
            "Give 'prompt' or 'code' (or both).",
            details=[{"field": "prompt", "problem": "either prompt or code is required"}],
        )
    if body.code is not None and len(body.code.encode()) > MAX_CODE_BYTES:
        raise InvalidRequest(
            "'code' is over 1 MB.",
            details=[{"field": "code", "problem": "at most 1,000,000 bytes"}],
        )
    if body.code is not None and not body.code.strip():
        raise InvalidRequest(
            "'code' is empty.", details=[{"field": "code", "problem": "must not be blank"}]
        )
    if body.prompt is not None and not body.prompt.strip():
        raise InvalidRequest(
            "'prompt' is empty.", details=[{"field": "prompt", "problem": "must not be blank"}]
        )
    if body.parent_job_id is not None and not body.parent_job_id.strip():
        raise InvalidRequest(
            "'parent_job_id' is empty.",
            details=[{"field": "parent_job_id", "problem": "must not be blank"}],
        )
    if body.timeout_seconds is not None and body.timeout_seconds > runtime.settings.job_max_timeout:
        raise InvalidRequest(
            f"'timeout_seconds' is over this server's cap of {runtime.settings.job_max_timeout} s.",
            details=[
                {
                    "field": "timeout_seconds",
                    "problem": f"at most {runtime.settings.job_max_timeout}",
                }
            ],
        )


async def check_parent(runtime: Runtime, account_id: str, parent_job_id: str | None) -> None:
    """A follow-up continues where its parent ended: the parent must be this account's, and
    final (its notebook is what the follow-up replays)."""
    if parent_job_id is None:
        return
    async with runtime.db.session() as session:
        parent = await repository.get_job(session, parent_job_id, account_id)
    if parent is None:
        raise NotFound(f"No such job: {parent_job_id} (parent_job_id)")
    if not JobStatus(parent.status).is_final:
        raise Conflict(
            f"The parent job {parent_job_id} is still {parent.status}; submit the follow-up "
            "once it has ended."
        )


async def check_files(runtime: Runtime, account_id: str, file_ids: list[str]) -> None:
    if file_ids:
        # No file store exists yet, so every id is unknown for this account.
        raise NotFound(f"No such file: {file_ids[0]}")


async def load_job(runtime: Runtime, job_id: str, account_id: str) -> Job:
    async with runtime.db.session() as session:
        job = await repository.get_job(session, job_id, account_id)
    if job is None:
        raise NotFound(f"No such job: {job_id}")
    return job


async def wait_for_final(runtime: Runtime, job: Job, seconds: float) -> Job:
    """Hold until the job is final or `seconds` pass; events wake us, the database decides."""
    if seconds <= 0 or JobStatus(job.status).is_final:
        return job
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    poll = runtime.settings.wait_poll_interval
    async with runtime.events.subscribe(job.id) as inbox:
        while True:
            # Re-read after subscribing so that a change between the first read and the
            # subscription is not missed; the periodic re-read covers other processes.
            job = await load_job(runtime, job.id, job.account_id)
            remaining = deadline - loop.time()
            if JobStatus(job.status).is_final or remaining <= 0:
                return job
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(poll, remaining)):
                    while True:
                        event = await inbox.get()
                        if event.get("type") == STATUS and event.get("status") in {
                            s.value for s in JobStatus if s.is_final
                        }:
                            break
