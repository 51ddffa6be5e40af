"""Idempotency keys: the job an account's earlier request with a key created."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.models import IdempotencyKey


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
        delete(IdempotencyKey).where(
            col(IdempotencyKey.account_id) == account_id, col(IdempotencyKey.created_at) < before
        )
    )
