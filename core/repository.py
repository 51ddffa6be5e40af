"""All SQL of PyExec. Functions take a session; the request or task boundary commits."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import (
    FINAL_STATUSES,
    Account,
    ApiKey,
    File,
    IdempotencyKey,
    Job,
    JobStatus,
    RequestCount,
    utcnow,
)

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


async def touch_api_key_if_stale(
    session: AsyncSession, key_id: str, now: datetime, stale_before: datetime
) -> None:
    """Set last_used_at unless it was set after `stale_before`: one conditional write, so that
    concurrent requests of one key do not all write."""
    await session.exec(
        update(ApiKey)  # type: ignore[call-overload]
        .where(
            col(ApiKey.id) == key_id,
            or_(col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) <= stale_before),
        )
        .values(last_used_at=now)
    )


async def set_account_plan(session: AsyncSession, account_id: str, plan: str) -> None:
    await session.exec(
        update(Account).where(col(Account.id) == account_id).values(plan=plan)  # type: ignore[call-overload]
    )


async def list_api_keys(session: AsyncSession, account_id: str) -> list[ApiKey]:
    """The account's active keys, newest first."""
    query = (
        select(ApiKey)
        .where(ApiKey.account_id == account_id, col(ApiKey.revoked_at).is_(None))
        .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())
    )
    return list((await session.exec(query)).all())


async def revoke_api_key(
    session: AsyncSession, key_id: str, when: datetime, account_id: str | None = None
) -> bool:
    """Revoke an active key (of `account_id`, when given); False if there is no such key."""
    query = update(ApiKey).where(col(ApiKey.id) == key_id, col(ApiKey.revoked_at).is_(None))
    if account_id is not None:
        query = query.where(col(ApiKey.account_id) == account_id)
    result = await session.exec(query.values(revoked_at=when))  # type: ignore[call-overload]
    return bool(result.rowcount)


# ---- daily request counters ----------------------------------------------------------


async def count_request(
    session: AsyncSession, account_id: str, day: date, limit: int
) -> int | None:
    """Count one request of `account_id` on `day` unless `limit` were already counted.

    One atomic statement (an upsert whose update only happens under the limit), never a read
    then a write: with N left and M > N concurrent callers, exactly N get a count. Returns the
    new count, or None when the limit had been reached.
    """
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(dialect)
    if insert is None:
        raise NotImplementedError(f"no atomic request counter for {dialect}")
    table = RequestCount.__table__  # type: ignore[attr-defined]
    stmt = (
        insert(table)
        .values(account_id=account_id, day=day, count=1)
        .on_conflict_do_update(
            index_elements=[table.c.account_id, table.c.day],
            set_={"count": table.c.count + 1},
            where=table.c.count < limit,
        )
        .returning(table.c.count)
    )
    result = await session.exec(stmt)  # type: ignore[call-overload]
    return result.scalar_one_or_none()


async def delete_request_counts_before(session: AsyncSession, account_id: str, day: date) -> None:
    """Forget the account's counts of the days before `day`."""
    await session.exec(  # type: ignore[call-overload]
        delete(RequestCount).where(
            col(RequestCount.account_id) == account_id, col(RequestCount.day) < day
        )
    )


# ---- idempotency keys ----------------------------------------------------------------


async def find_idempotency_key(
    session: AsyncSession, account_id: str, key: str
) -> IdempotencyKey | None:
    result = await session.exec(
        select(IdempotencyKey).where(
            IdempotencyKey.account_id == account_id, IdempotencyKey.key == key
        )
    )
    return result.first()


async def add_idempotency_key(session: AsyncSession, record: IdempotencyKey) -> None:
    """Raises IntegrityError if the account already holds this key (a concurrent request)."""
    session.add(record)
    await session.flush()


async def delete_idempotency_keys_before(
    session: AsyncSession, account_id: str, before: datetime
) -> None:
    await session.exec(
        delete(IdempotencyKey).where(  # type: ignore[call-overload]
            col(IdempotencyKey.account_id) == account_id, col(IdempotencyKey.created_at) < before
        )
    )


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


async def job_owner_plan(session: AsyncSession, job_id: str) -> tuple[str, str] | None:
    """(account id, plan) of the job's account; None if there is no such job."""
    result = await session.exec(
        select(Account.id, Account.plan)
        .join(Job, col(Job.account_id) == col(Account.id))
        .where(col(Job.id) == job_id)
    )
    row = result.first()
    return (row[0], row[1]) if row is not None else None


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


async def requeue_orphan(session: AsyncSession, job_id: str, attempts: int) -> bool:
    """running → pending for a job whose worker died, if no one took it over since.

    `attempts` is the count seen when the orphan was found: a run started after that has a
    higher count, so two recoverers (or a recoverer and a fresh run) never both win.
    """
    result = await session.exec(
        update(Job)  # type: ignore[call-overload]
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
        update(Job)  # type: ignore[call-overload]
        .where(
            col(Job.id) == job_id,
            col(Job.status) == JobStatus.running.value,
            col(Job.attempts) == attempts,
        )
        .values(status=JobStatus.failed.value, completed_at=utcnow(), error_message=message)
    )
    return bool(result.rowcount)


async def delete_job(session: AsyncSession, job_id: str) -> bool:
    """Delete a job that has ended, giving back what it stored; a pending or running job is
    left alone (False)."""
    result = await session.exec(
        delete(Job)  # type: ignore[call-overload]
        .where(col(Job.id) == job_id, col(Job.status).in_([s.value for s in FINAL_STATUSES]))
        .returning(col(Job.account_id), col(Job.stored_bytes))
    )
    row = result.first()
    if row is None:
        return False
    await release_storage(session, row[0], row[1])
    return True


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
        delete(File)  # type: ignore[call-overload]
        .where(col(File.id) == file_id, col(File.account_id) == account_id)
        .returning(col(File.bytes))
    )
    row = result.first()
    if row is None:
        return False
    await release_storage(session, account_id, row[0])
    return True


# ---- storage usage -----------------------------------------------------------------------


async def reserve_storage(
    session: AsyncSession, account_id: str, n: int, limit: int | None, job_id: str | None = None
) -> bool:
    """Count `n` more bytes for the account if that keeps it within `limit` (None: always),
    in one statement, so concurrent requests cannot both pass the limit; with `job_id`, the
    job counts them too (given back when it is deleted)."""
    query = update(Account).where(col(Account.id) == account_id)
    if limit is not None:
        query = query.where(col(Account.storage_bytes) + n <= limit)
    result = await session.exec(  # type: ignore[call-overload]
        query.values(storage_bytes=col(Account.storage_bytes) + n)
    )
    if not result.rowcount:
        return False
    if job_id is not None:
        await session.exec(
            update(Job)  # type: ignore[call-overload]
            .where(col(Job.id) == job_id)
            .values(stored_bytes=col(Job.stored_bytes) + n)
        )
    return True


async def release_storage(session: AsyncSession, account_id: str, n: int) -> None:
    if n:
        await session.exec(
            update(Account)  # type: ignore[call-overload]
            .where(col(Account.id) == account_id)
            .values(
                storage_bytes=case(
                    (col(Account.storage_bytes) > n, col(Account.storage_bytes) - n), else_=0
                )
            )
        )


async def release_job_storage(session: AsyncSession, job_id: str) -> None:
    """Give back what an earlier attempt of the job stored (its artifacts are cleared)."""
    job = await session.get(Job, job_id)
    if job is not None and job.stored_bytes:
        await release_storage(session, job.account_id, job.stored_bytes)
        await session.exec(
            update(Job)  # type: ignore[call-overload]
            .where(col(Job.id) == job_id)
            .values(stored_bytes=0)
        )


async def storage_used(session: AsyncSession, account_id: str) -> int:
    account = await session.get(Account, account_id)
    return account.storage_bytes if account is not None else 0
