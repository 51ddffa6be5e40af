"""Storage usage: the bytes an account and each of its jobs hold, against the quota."""

from __future__ import annotations

from sqlalchemy import case, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.models import Account, Job


async def reserve_storage(
    session: AsyncSession, account_id: str, n: int, limit: int | None, job_id: str | None = None
) -> bool:
    """Count `n` more bytes for the account if that keeps it within `limit` (None: always),
    in one statement, so concurrent requests cannot both pass the limit; with `job_id`, the
    job counts them too (given back when it is deleted)."""
    query = update(Account).where(col(Account.id) == account_id)
    if limit is not None:
        query = query.where(col(Account.storage_bytes) + n <= limit)
    result = await session.exec(
        query.values(storage_bytes=col(Account.storage_bytes) + n)
    )
    if not result.rowcount:
        return False
    if job_id is not None:
        await session.exec(
            update(Job)
            .where(col(Job.id) == job_id)
            .values(stored_bytes=col(Job.stored_bytes) + n)
        )
    return True


async def release_storage(session: AsyncSession, account_id: str, n: int) -> None:
    if n:
        await session.exec(
            update(Account)
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
            update(Job)
            .where(col(Job.id) == job_id)
            .values(stored_bytes=0)
        )


async def storage_used(session: AsyncSession, account_id: str) -> int:
    account = await session.get(Account, account_id)
    return account.storage_bytes if account is not None else 0
