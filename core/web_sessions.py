"""The dashboard's sign-in state: passwords, sessions, one-time sign-in links, throttles.

All SQL of it lives here, in the repository's style: functions take a session and the caller
commits. Tokens (of sessions and links) are random and only their SHA-256 is stored, like API
keys: a copy of the database signs no one in.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.models import Account, SignInLink, SignInThrottle, WebSession

# How long the link `pyexec serve` prints stays valid (the issue: ten minutes, like a code).
SIGN_IN_LINK_LIFETIME = timedelta(minutes=10)
# A session's last_seen_at (and so its expiry) is moved at most this often: reads stay reads.
SESSION_TOUCH_GRANULARITY = timedelta(minutes=5)
# Bulk statements here need not update rows the session has loaded (and SQLite's loaded
# datetimes are naive, which the ORM cannot compare with the aware ones of a WHERE).
_BULK = {"synchronize_session": False}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---- passwords -----------------------------------------------------------------------


async def set_password_hash(session: AsyncSession, account_id: str, password_hash: str) -> None:
    await session.exec(
        update(Account)
        .where(col(Account.id) == account_id)
        .values(password_hash=password_hash),
        execution_options=_BULK,
    )


# ---- sessions ------------------------------------------------------------------------


async def add_session(
    session: AsyncSession, account_id: str, token: str, now: datetime, lifetime: timedelta
) -> WebSession:
    row = WebSession(
        token_hash=token_digest(token),
        account_id=account_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    await session.flush()
    return row


async def find_session(
    session: AsyncSession, token: str, now: datetime
) -> tuple[WebSession, Account] | None:
    """The live session behind a cookie's token, with its account; None if unknown or expired."""
    result = await session.exec(
        select(WebSession, Account)
        .join(Account, col(Account.id) == col(WebSession.account_id))
        .where(WebSession.token_hash == token_digest(token), col(WebSession.expires_at) > now)
    )
    return result.first()


async def touch_session(
    session: AsyncSession, session_id: str, now: datetime, lifetime: timedelta
) -> None:
    """Record a visit: the session lives `lifetime` from now (one conditional write)."""
    await session.exec(
        update(WebSession)
        .where(
            col(WebSession.id) == session_id,
            col(WebSession.last_seen_at) <= now - SESSION_TOUCH_GRANULARITY,
        )
        .values(last_seen_at=now, expires_at=now + lifetime),
        execution_options=_BULK,
    )


async def delete_session(session: AsyncSession, token: str) -> None:
    await session.exec(
        delete(WebSession).where(col(WebSession.token_hash) == token_digest(token)),
        execution_options=_BULK,
    )


async def delete_account_sessions(session: AsyncSession, account_id: str) -> int:
    """Sign the account out everywhere (its password changed); how many sessions ended."""
    result = await session.exec(
        delete(WebSession).where(col(WebSession.account_id) == account_id),
        execution_options=_BULK,
    )
    return int(result.rowcount or 0)


async def delete_expired_sessions(session: AsyncSession, now: datetime) -> None:
    await session.exec(
        delete(WebSession).where(col(WebSession.expires_at) <= now),
        execution_options=_BULK,
    )


# ---- one-time sign-in links ------------------------------------------------------------


async def add_sign_in_link(
    session: AsyncSession, account_id: str, token: str, now: datetime
) -> SignInLink:
    await session.exec(
        delete(SignInLink).where(col(SignInLink.expires_at) <= now),
        execution_options=_BULK,
    )
    link = SignInLink(
        token_hash=token_digest(token),
        account_id=account_id,
        created_at=now,
        expires_at=now + SIGN_IN_LINK_LIFETIME,
    )
    session.add(link)
    await session.flush()
    return link


async def consume_sign_in_link(session: AsyncSession, token: str, now: datetime) -> str | None:
    """The account a live link signs in, deleting the link in the same statement (so that two
    concurrent clicks cannot both use it); None if it is unknown, used or expired."""
    table = SignInLink.__table__  # type: ignore[attr-defined]
    result = await session.exec(
        delete(table)
        .where(table.c.token_hash == token_digest(token))
        .returning(table.c.account_id, table.c.expires_at)
    )
    row = result.first()
    if row is None:
        return None
    account_id, expires_at = row
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=now.tzinfo)
    return account_id if expires_at > now else None


# ---- sign-in throttles -----------------------------------------------------------------


async def take_attempt(
    session: AsyncSession, key: str, now: datetime, window: timedelta, limit: int
) -> datetime | None:
    """Count one sign-in attempt under `key` unless `limit` were counted in its window.

    One atomic upsert, like the daily request counter: concurrent attempts cannot slip past
    the limit. Returns None when counted, else when the key's window ends (when to retry).
    Windows are fixed: the first attempt after a window ended starts a new one.
    """
    dialect = session.get_bind().dialect.name
    inserts: dict[str, Callable[[Any], sqlite.Insert | postgresql.Insert]] = {
        "sqlite": sqlite.insert, "postgresql": postgresql.insert
    }
    insert = inserts.get(dialect)
    if insert is None:
        raise NotImplementedError(f"no atomic sign-in throttle for {dialect}")
    table = SignInThrottle.__table__  # type: ignore[attr-defined]
    cutoff = now - window
    # Rows of ended windows are of no more use: they go before anything is counted.
    await session.exec(delete(table).where(table.c.window_started_at <= cutoff))
    ended = table.c.window_started_at <= cutoff
    stmt = (
        insert(table)
        .values(key=key, window_started_at=now, attempts=1)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "attempts": case((ended, 1), else_=table.c.attempts + 1),
                "window_started_at": case((ended, now), else_=table.c.window_started_at),
            },
            where=or_(ended, table.c.attempts < limit),
        )
        .returning(table.c.attempts)
    )
    counted = (await session.exec(stmt)).scalar_one_or_none()
    if counted is not None:
        return None
    started = (
        await session.exec(
            select(SignInThrottle.window_started_at).where(SignInThrottle.key == key)
        )
    ).first()
    if started is None:  # the window ended in between: the next attempt counts
        return now
    if started.tzinfo is None:
        started = started.replace(tzinfo=now.tzinfo)
    return started + window


async def refund_attempt(session: AsyncSession, key: str) -> None:
    """Un-count one attempt (it succeeded: only failures should hold anyone back)."""
    await session.exec(
        update(SignInThrottle)
        .where(col(SignInThrottle.key) == key, col(SignInThrottle.attempts) > 0)
        .values(attempts=SignInThrottle.attempts - 1),
        execution_options=_BULK,
    )


async def clear_attempts(session: AsyncSession, key: str) -> None:
    await session.exec(
        delete(SignInThrottle).where(col(SignInThrottle.key) == key),
        execution_options=_BULK,
    )
