"""All SQL of PyExec. Functions take a session; the request or task boundary commits."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import FINAL_STATUSES, Account, ApiKey, File, Job, JobStatus, utcnow

# ---- accounts and keys ---------------------------------------------------------------


async def get_account(session: AsyncSession, account_id: str) -> Account | None:
    return await session.get(Account, account_id)


async def get_account_by_email(session: AsyncSession, email: str) -> Account | None:
    result = await session.exec(select(Account).where(Account.email == email.lower()))
    return result.first()


async def create_account(session: AsyncSession, email: str, plan: str) -> Account:
    account = Account(email=email.lower(), plan=plan)
    session.add(account)
    await session.flush()
    return account


async def add_api_key(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def find_active_key(session: AsyncSession, key_hash: str) -> tuple[ApiKey, Account] | None:
    result = await session.exec(
        select(ApiKey, Account)
        .join(Account, col(Account.id) == col(ApiKey.account_id))
        .where(ApiKey.key_hash == key_hash, col(ApiKey.revoked_at).is_(None))
    )
    return result.first()


async def touch_api_key(session: AsyncSession, key_id: str, when: datetime) -> None:
    await session.exec(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=when))  # type: ignore[call-overload]


# ---- jobs ----------------------------------------------------------------------------


async def add_job(session: AsyncSession, job: Job) -> Job:
    session.add(job)
    await session.flush()
    return job


async def get_job(session: AsyncSession, job_id: str, account_id: str | None = None) -> Job | None:
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None or (account_id is not None and job.account_id != account_id):
        return None
    return job


def encode_cursor(row: Job | File) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for anything that is not a cursor this API issued."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, job_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(job_id)
    except Exception as exc:
        raise ValueError("invalid cursor") from exc


async def list_jobs(
    session: AsyncSession,
    account_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    status: str | None = None,
) -> list[Job]:
    query = select(Job).where(Job.account_id == account_id)
    if status is not None:
        query = query.where(Job.status == status)
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


async def claim_job(session: AsyncSession, job_id: str) -> bool:
    """pending → running, atomically: exactly one of two deliveries of a job wins."""
    result = await session.exec(
        update(Job)  # type: ignore[call-overload]
        .where(col(Job.id) == job_id, col(Job.status) == JobStatus.pending.value)
        .values(status=JobStatus.running.value, started_at=utcnow(), attempts=Job.attempts + 1)
    )
    return bool(result.rowcount)


async def finish_job(session: AsyncSession, job_id: str, status: JobStatus, **values: Any) -> bool:
    """running|pending → a final status; a job that is already final is left as it is."""
    result = await session.exec(
        update(Job)  # type: ignore[call-overload]
        .where(
            col(Job.id) == job_id,
            col(Job.status).not_in([s.value for s in FINAL_STATUSES]),
        )
        .values(status=status.value, completed_at=utcnow(), **values)
    )
    return bool(result.rowcount)


async def cancel_pending(session: AsyncSession, job_id: str) -> bool:
    result = await session.exec(
        update(Job)  # type: ignore[call-overload]
        .where(col(Job.id) == job_id, col(Job.status) == JobStatus.pending.value)
        .values(
            status=JobStatus.cancelled.value,
            completed_at=utcnow(),
            cancel_requested=True,
            error_message="cancelled before it started",
        )
    )
    return bool(result.rowcount)


async def request_cancel(session: AsyncSession, job_id: str) -> None:
    await session.exec(
        update(Job).where(col(Job.id) == job_id).values(cancel_requested=True)  # type: ignore[call-overload]
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
        update(Job)  # type: ignore[call-overload]
        .where(col(Job.id) == job_id, col(Job.status) == JobStatus.running.value)
        .values(**values)
    )


async def delete_job(session: AsyncSession, job_id: str) -> bool:
    """Delete a job that has ended; a pending or running job is left alone (False)."""
    result = await session.exec(
        delete(Job).where(  # type: ignore[call-overload]
            col(Job.id) == job_id, col(Job.status).in_([s.value for s in FINAL_STATUSES])
        )
    )
    return bool(result.rowcount)


# ---- files ---------------------------------------------------------------------------


async def add_file(session: AsyncSession, file: File) -> File:
    session.add(file)
    await session.flush()
    return file


async def get_file(session: AsyncSession, file_id: str, account_id: str) -> File | None:
    file = await session.get(File, file_id)
    if file is None or file.account_id != account_id:
        return None
    return file


async def get_files(
    session: AsyncSession, file_ids: Sequence[str], account_id: str
) -> dict[str, File]:
    """The account's files among `file_ids`, by id; ids of other accounts are simply absent."""
    if not file_ids:
        return {}
    result = await session.exec(
        select(File).where(col(File.id).in_(list(file_ids)), File.account_id == account_id)
    )
    return {f.id: f for f in result.all()}


async def list_files(
    session: AsyncSession,
    account_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[File]:
    query = select(File).where(File.account_id == account_id)
    if after is not None:
        created, file_id = after
        query = query.where(
            or_(
                col(File.created_at) < created,
                and_(col(File.created_at) == created, col(File.id) < file_id),
            )
        )
    query = query.order_by(col(File.created_at).desc(), col(File.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def delete_file(session: AsyncSession, file_id: str, account_id: str) -> bool:
    result = await session.exec(
        delete(File).where(  # type: ignore[call-overload]
            col(File.id) == file_id, col(File.account_id) == account_id
        )
    )
    return bool(result.rowcount)
