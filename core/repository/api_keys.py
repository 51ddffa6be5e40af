"""API keys: storing, finding by hash, marking used, listing, revoking."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.models import Account, ApiKey


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
    await session.exec(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=when))


async def touch_api_key_if_stale(
    session: AsyncSession, key_id: str, now: datetime, stale_before: datetime
) -> None:
    """Set last_used_at unless it was set after `stale_before`: one conditional write, so that
    concurrent requests of one key do not all write."""
    await session.exec(
        update(ApiKey)
        .where(
            col(ApiKey.id) == key_id,
            or_(col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) <= stale_before),
        )
        .values(last_used_at=now)
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
    result = await session.exec(query.values(revoked_at=when))
    return bool(result.rowcount)
