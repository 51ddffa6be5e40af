"""Jobs: their rows, listings and status transitions (each transition one atomic statement)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.clock import utcnow
from pyexec.core.job_context import JobOwner
from pyexec.core.models import FINAL_STATUSES, Account, Job, JobStatus
from pyexec.core.repository.storage import release_storage
from pyexec.core.repository.webhooks import drop_webhook, schedule_webhook


async def add_job(session: AsyncSession, job: Job) -> Job:
    session.add(job)
    await session.flush()
    return job


async def get_job(session: AsyncSession, job_id: str, account_id: str | None = None) -> Job | None:
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None or (account_id is not None and job.account_id != account_id):
        return None
    return job


async def lineage_file_ids(
    session: AsyncSession, job: Job, account_id: str, max_depth: int = 100
) -> list[str]:
    """The input files of `job` and of its ancestors (oldest first, each once): a follow-up's
    work dir needs them all, since its parents' cells are replayed. A chain longer than
    `max_depth` is not followed further."""
    file_ids: list[str] = []
    ancestor: Job | None = job
    for _ in range(max_depth):
        if ancestor is None:
            break
        file_ids = [*(ancestor.file_ids or []), *file_ids]
        if not ancestor.parent_job_id:
            break
        ancestor = await get_job(session, ancestor.parent_job_id, account_id)
    return list(dict.fromkeys(file_ids))


async def job_owner_plan(session: AsyncSession, job_id: str) -> JobOwner | None:
    """The job's account and its plan; None if there is no such job."""
    result = await session.exec(
        select(Account.id, Account.plan)
        .join(Job, col(Job.account_id) == col(Account.id))
        .where(col(Job.id) == job_id)
    )
    row = result.first()
    return JobOwner(row[0], row[1]) if row is not None else None


async def list_jobs(
    session: AsyncSession,
    account_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    status: str | None = None,
    title_contains: str | None = None,
) -> list[Job]:
    query = select(Job).where(Job.account_id == account_id)
    if status is not None:
        query = query.where(Job.status == status)
    if title_contains:
        query = query.where(col(Job.title).icontains(title_contains, autoescape=True))
    if after is not None:
        created, job_id = after
        query = query.where(
            or_(
                col(Job.created_at) < created,
                and_(col(Job.created_at) == created, col(Job.id) < job_id),
            )
        )
    query = query.order_by(col(Job.created_at).desc(), col(Job.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def job_counts_by_day(
    session: AsyncSession, account_id: str, since: datetime
) -> dict[tuple[date, str], int]:
    """How many of the account's jobs were created on each UTC day since `since`, by status."""
    created = col(Job.created_at)
    if session.get_bind().dialect.name == "postgresql":
        day = func.date(func.timezone("UTC", created))
    else:  # SQLite stores UTC already
        day = func.date(created)
    result = await session.exec(
        select(day, Job.status, func.count())
        .where(Job.account_id == account_id, created >= since)
        .group_by(day, Job.status)
    )
    counts: dict[tuple[date, str], int] = {}
    for value, status, count in result.all():
        when = value if isinstance(value, date) else date.fromisoformat(str(value))
        counts[(when, status)] = counts.get((when, status), 0) + int(count)
    return counts


async def claim_job(session: AsyncSession, job_id: str) -> Job | None:
    """pending → running, atomically: exactly one of two deliveries of a job wins, and gets
    the job as the claim left it (one statement: no second read of the row)."""
    result = await session.exec(
        update(Job)
        .where(col(Job.id) == job_id, col(Job.status) == JobStatus.pending.value)
        .values(status=JobStatus.running.value, started_at=utcnow(), attempts=Job.attempts + 1)
        .returning(Job)
        .execution_options(synchronize_session=False)
    )
    row = result.first()
    return row[0] if row is not None else None


async def finish_job(
    session: AsyncSession,
    job_id: str,
    status: JobStatus,
    *,
    completed_at: datetime | None = None,
    stored_bytes_added: int = 0,
    **values: Any,
) -> Job | None:
    """running|pending → a final status, in one statement; the job as it ended, or None when
    it was already final (it is left as it is). `stored_bytes_added` counts more bytes to the
    job (the notebook its end wrote; the account's count is the caller's)."""
    if stored_bytes_added:
        values["stored_bytes"] = col(Job.stored_bytes) + stored_bytes_added
    result = await session.exec(
        update(Job)
        .where(
            col(Job.id) == job_id,
            col(Job.status).not_in([s.value for s in FINAL_STATUSES]),
        )
        .values(status=status.value, completed_at=completed_at or utcnow(), **values)
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    row = result.first()
    if row is None:
        return None
    job: Job = row[0]
    await schedule_webhook(session, job_id, owner=(job.account_id, job.webhook_url))
    return job


async def cancel_pending(session: AsyncSession, job_id: str) -> bool:
    result = await session.exec(
        update(Job)
        .where(col(Job.id) == job_id, col(Job.status) == JobStatus.pending.value)
        .values(
            status=JobStatus.cancelled.value,
            completed_at=utcnow(),
            cancel_requested=True,
            error_message="cancelled before it started",
        )
    )
    return await _ended(session, job_id, bool(result.rowcount))


async def request_cancel(session: AsyncSession, job_id: str) -> None:
    await session.exec(
        update(Job).where(col(Job.id) == job_id).values(cancel_requested=True)
    )


async def jobs_with_status(session: AsyncSession, statuses: Sequence[JobStatus]) -> list[Job]:
    query = (
        select(Job)
        .where(col(Job.status).in_([s.value for s in statuses]))
        .order_by(col(Job.priority).desc(), col(Job.created_at), col(Job.id))
    )
    return list((await session.exec(query)).all())


async def requeue_job(session: AsyncSession, job_id: str, *, refund_attempt: bool = False) -> None:
    """running → pending: its runner went away (a crash, or a shutdown that hands it back)."""
    values: dict[str, Any] = {"status": JobStatus.pending.value, "started_at": None}
    if refund_attempt:
        values["attempts"] = Job.attempts - 1
    await session.exec(
        update(Job)
        .where(col(Job.id) == job_id, col(Job.status) == JobStatus.running.value)
        .values(**values)
    )


async def requeue_orphan(session: AsyncSession, job_id: str, attempts: int) -> bool:
    """running → pending for a job whose worker died, if no one took it over since.

    `attempts` is the count seen when the orphan was found: a run started after that has a
    higher count, so two recoverers (or a recoverer and a fresh run) never both win.
    """
    result = await session.exec(
        update(Job)
        .where(
            col(Job.id) == job_id,
            col(Job.status) == JobStatus.running.value,
            col(Job.attempts) == attempts,
        )
        .values(status=JobStatus.pending.value, started_at=None)
    )
    return bool(result.rowcount)


async def fail_orphan(session: AsyncSession, job_id: str, attempts: int, message: str) -> bool:
    """running → failed for a job whose worker died and that has no attempts left."""
    result = await session.exec(
        update(Job)
        .where(
            col(Job.id) == job_id,
            col(Job.status) == JobStatus.running.value,
            col(Job.attempts) == attempts,
        )
        .values(status=JobStatus.failed.value, completed_at=utcnow(), error_message=message)
    )
    return await _ended(session, job_id, bool(result.rowcount))


async def delete_job(session: AsyncSession, job_id: str) -> bool:
    """Delete a job that has ended, giving back what it stored; a pending or running job is
    left alone (False)."""
    result = await session.exec(
        delete(Job)
        .where(col(Job.id) == job_id, col(Job.status).in_([s.value for s in FINAL_STATUSES]))
        .returning(col(Job.account_id), col(Job.stored_bytes))
    )
    row = result.first()
    if row is None:
        return False
    await release_storage(session, row[0], row[1])
    await drop_webhook(session, job_id)
    return True


async def _ended(session: AsyncSession, job_id: str, changed: bool) -> bool:
    """After a transition to a final status: the job's webhook delivery, if it has a URL."""
    if changed:
        await schedule_webhook(session, job_id)
    return changed
