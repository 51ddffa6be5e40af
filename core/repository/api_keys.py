"""API keys: storing, finding by hash, marking used, listing, revoking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.models import Account, ApiKey


async def add_api_key(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """What authenticating a request needs of an active key and its account."""

    key_id: str
    key_hash: str
    scopes: list[str]
    last_used_at: datetime | None
    account_id: str
    email: str
    plan: str


_keys = ApiKey.__table__  # type: ignore[attr-defined]
_accounts = Account.__table__  # type: ignore[attr-defined]
# Built once: SQLAlchemy then finds its compiled form in its cache on every request.
_FIND_ACTIVE_KEY = (
    select(  # type: ignore[call-overload]
        _keys.c.id,
        _keys.c.key_hash,
        _keys.c.scopes,
        _keys.c.last_used_at,
        _accounts.c.id,
        _accounts.c.email,
        _accounts.c.plan,
    )
    .join(_accounts, _accounts.c.id == _keys.c.account_id)
    .where(_keys.c.key_hash == bindparam("key_hash"), _keys.c.revoked_at.is_(None))
)
_TOUCH_IF_STALE = (
    update(_keys)
    .where(
        _keys.c.id == bindparam("key_id"),
        or_(_keys.c.last_used_at.is_(None), _keys.c.last_used_at <= bindparam("stale_before")),
    )
    .values(last_used_at=bindparam("now"))
)


async def find_caller_key(conn: AsyncConnection, key_hash: str) -> ActiveKey | None:
    """The active key with this hash and its account, on the request's connection.

    Core SQL on a connection, not the ORM on a session: this runs for every API request, and
    building ORM objects and a session cost more CPU here than the database does.
    """
    row = (await conn.execute(_FIND_ACTIVE_KEY, {"key_hash": key_hash})).first()
    if row is None:
        return None
    key_id, digest, scopes, last_used_at, account_id, email, plan = row
    return ActiveKey(key_id, digest, list(scopes or []), last_used_at, account_id, email, plan)


async def touch_api_key_if_stale(
    conn: AsyncConnection, key_id: str, now: datetime, stale_before: datetime
) -> None:
    """Set last_used_at unless it was set after `stale_before`: one conditional write, so that
    concurrent requests of one key do not all write (on the request's connection, as
    `find_caller_key`)."""
    await conn.execute(
        _TOUCH_IF_STALE, {"key_id": key_id, "now": now, "stale_before": stale_before}
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
