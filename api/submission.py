"""Checking a job submission before its row exists: input, plan, parent and files; its title and
time budget; the job it makes, and its start once the row is committed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pyexec.api.errors import Conflict, Forbidden, InvalidRequest, NotFound
from pyexec.api.schemas import MAX_CODE_BYTES, JobCreate
from pyexec.core import repository
from pyexec.core.event_types import StatusChanged
from pyexec.core.job_context import JobOwner
from pyexec.core.models import Job, JobStatus
from pyexec.core.plans import PlanLimits
from pyexec.core.runtime import Runtime
from pyexec.core.webhooks import WebhookUrlError, check_url, resolve_public

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


def check_plan(body: JobCreate, limits: PlanLimits) -> None:
    """What the account's plan does not allow is 403, naming the limit."""
    cap = limits.max_job_timeout
    if body.timeout_seconds is not None and body.timeout_seconds > cap:
        raise Forbidden(
            f"'timeout_seconds' of {body.timeout_seconds} is over the {limits.plan} plan's cap "
            f"of {cap} s.",
            details=[{"field": "timeout_seconds", "problem": f"at most {cap} on this plan"}],
        )


def job_timeout(body: JobCreate, limits: PlanLimits, default: int) -> int:
    # The server's default budget never exceeds what the plan allows.
    return body.timeout_seconds or min(default, limits.max_job_timeout)


async def check_parent(runtime: Runtime, account_id: str, parent_job_id: str | None) -> list[str]:
    """A follow-up continues where its parent ended: the parent must be this account's, and
    final (its notebook is what the follow-up replays). Returns the files the follow-up
    inherits: its parent's and their ancestors'."""
    if parent_job_id is None:
        return []
    async with runtime.db.session() as session:
        parent = await repository.get_job(session, parent_job_id, account_id)
        if parent is None:
            raise NotFound(f"No such job: {parent_job_id} (parent_job_id)")
        if not JobStatus(parent.status).is_final:
            raise Conflict(
                f"The parent job {parent_job_id} is still {parent.status}; submit the "
                "follow-up once it has ended."
            )
        return await repository.lineage_file_ids(session, parent, account_id)


async def check_files(
    runtime: Runtime, account_id: str, file_ids: list[str], inherited: Sequence[str] = ()
) -> None:
    """Every id must be this account's file (else 404), and no two may share a name in the
    job's working directory (else 400), so a job never fails later for what is known now.
    `inherited`: a follow-up's files from its parents, staged beside its own."""
    if not file_ids:
        return
    async with runtime.db.session() as session:
        files = await repository.get_files(session, [*inherited, *file_ids], account_id)
    for file_id in file_ids:
        if file_id not in files:
            raise NotFound(f"No such file: {file_id}")
    seen: dict[str, str] = {}
    # A parent's file that is gone fails the follow-up when it runs, with that message.
    placed = [f for f in inherited if f in files and f not in file_ids]
    for file_id in [*placed, *file_ids]:
        name = files[file_id].filename
        # Case-insensitively: the bundle must unzip on macOS and Windows too.
        other = seen.get(name.casefold())
        if other == file_id:
            raise InvalidRequest(
                f"'file_ids' lists {file_id} twice.",
                details=[{"field": "file_ids", "problem": f"{file_id} is listed twice"}],
            )
        if other is not None and other in placed:
            raise InvalidRequest(
                f"File {file_id} is named '{name}' like {other}, an input of the parent job "
                "that the follow-up's working directory holds too (names are compared "
                "ignoring case). Upload it again under another name.",
                details=[
                    {"field": "file_ids", "problem": f"'{name}' is an input of the parent job"}
                ],
            )
        if other is not None:
            names = f"'{files[other].filename}' and '{name}'"
            if files[other].filename == name:
                names = f"'{name}'"
            raise InvalidRequest(
                f"Files {other} and {file_id} are both named {names}: each file is placed in "
                "the job's working directory under its name (compared ignoring case), so names "
                "must differ. Upload one of them again under another name.",
                details=[{"field": "file_ids", "problem": f"two files are named {names}"}],
            )
        seen[name.casefold()] = file_id


async def check_webhook_url(runtime: Runtime, url: str | None) -> str | None:
    """A webhook URL PyExec may call: https (unless allowed), and a host that is, or resolves
    only to, public addresses (unless allowed). The worker checks the address again when it
    delivers, since a name's answer may change."""
    if url is None:
        return None
    settings = runtime.settings
    try:
        target = check_url(
            url.strip(),
            allow_http=settings.webhook_allow_http,
            allow_private=settings.webhook_allow_private,
        )
        if not settings.webhook_allow_private:
            await resolve_public(target, allow_private=False)
    except WebhookUrlError as exc:
        raise InvalidRequest(
            f"'webhook_url' {exc}.", details=[{"field": "webhook_url", "problem": str(exc)}]
        ) from None
    return target.url


async def new_job(runtime: Runtime, body: JobCreate, account_id: str, limits: PlanLimits) -> Job:
    """The job a submission makes, checked against the plan, its parent and its files; not
    stored yet. Raises the error of the first check it fails."""
    check_submission(body, runtime)
    check_plan(body, limits)
    inherited = await check_parent(runtime, account_id, body.parent_job_id)
    await check_files(runtime, account_id, body.file_ids, inherited)
    webhook_url = await check_webhook_url(runtime, body.webhook_url)
    return Job(
        account_id=account_id,
        title=derive_title(body),
        prompt=body.prompt,
        code=body.code,
        priority=body.priority,
        timeout_seconds=job_timeout(body, limits, runtime.settings.job_default_timeout),
        file_ids=body.file_ids,
        parent_job_id=body.parent_job_id,
        webhook_url=webhook_url,
    )


async def start_job(runtime: Runtime, job: Job, plan: str) -> None:
    """Announce and enqueue a job whose row is committed; `plan`: its owner's, as admitted."""
    # Published before the enqueue so that the job's event log starts with it.
    await runtime.events.publish(job.id, StatusChanged(status=JobStatus.pending.value))
    # Commit first, then enqueue: a crash in between leaves a pending row that start-up
    # recovery re-queues, never a queued id without a row.
    await runtime.queue.enqueue(
        job.id, job.priority, submitted_at=job.created_at, owner=JobOwner(job.account_id, plan)
    )
