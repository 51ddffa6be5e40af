"""The dashboard's sign-in SQL (core.web_sessions) on both databases: throttle counters that
stay exact under concurrency, one-time links used once, sessions that expire."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pyexec.core import repository, web_sessions
from pyexec.core.db import Database
from pyexec.core.migrate import upgrade
from pyexec.core.settings import load_settings

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None):
    settings = load_settings(data_dir=tmp_path, database_url=database_url)
    await asyncio.to_thread(upgrade, settings.db_url)
    database = Database(settings.db_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _account(db: Database) -> str:
    async with db.session() as session:
        account = await repository.create_account(session, "a@example.com", "pro")
        await session.commit()
        return account.id


async def _take(db: Database, key: str, now: datetime, limit: int = 3) -> datetime | None:
    async with db.session() as session:
        retry_at = await web_sessions.take_attempt(session, key, now, WINDOW, limit)
        await session.commit()
        return retry_at


async def test_attempts_count_to_the_limit_then_wait_for_the_window(db: Database) -> None:
    results = [await _take(db, "email:a", NOW + timedelta(seconds=i)) for i in range(5)]
    assert results[:3] == [None, None, None]
    assert results[3:] == [NOW + WINDOW, NOW + WINDOW]  # the window began with the first
    assert await _take(db, "email:b", NOW) is None  # keys are counted apart
    # A new window starts with the first attempt after the old one ended.
    assert await _take(db, "email:a", NOW + WINDOW) is None
    assert await _take(db, "email:a", NOW + WINDOW + timedelta(seconds=1)) is None


async def test_refunds_and_clears(db: Database) -> None:
    for _ in range(3):
        assert await _take(db, "ip:x", NOW) is None
    async with db.session() as session:
        await web_sessions.refund_attempt(session, "ip:x")
        await session.commit()
    assert await _take(db, "ip:x", NOW) is None
    assert await _take(db, "ip:x", NOW) is not None
    async with db.session() as session:
        await web_sessions.clear_attempts(session, "ip:x")
        await session.commit()
    assert await _take(db, "ip:x", NOW) is None


async def test_exact_under_concurrency(db: Database) -> None:
    results = await asyncio.gather(*(_take(db, "email:c", NOW, limit=10) for _ in range(30)))
    assert results.count(None) == 10


async def test_a_link_signs_in_once_even_when_clicked_twice_at_once(db: Database) -> None:
    account_id = await _account(db)
    async with db.session() as session:
        await web_sessions.add_sign_in_link(session, account_id, "tok", NOW)
        await session.commit()

    async def consume(now: datetime = NOW) -> str | None:
        async with db.session() as session:
            found = await web_sessions.consume_sign_in_link(session, "tok", now)
            await session.commit()
            return found

    assert sorted(map(str, await asyncio.gather(*(consume() for _ in range(6))))) == sorted(
        [account_id] + ["None"] * 5
    )
    async with db.session() as session:
        await web_sessions.add_sign_in_link(session, account_id, "late", NOW)
        await session.commit()
    async with db.session() as session:
        expired = NOW + web_sessions.SIGN_IN_LINK_LIFETIME
        assert await web_sessions.consume_sign_in_link(session, "late", expired) is None
        await session.commit()


async def test_sessions_expire_unless_visited(db: Database) -> None:
    account_id = await _account(db)
    lifetime = timedelta(days=1)
    async with db.session() as session:
        row = await web_sessions.add_session(session, account_id, "s1", NOW, lifetime)
        await session.commit()
    later = NOW + timedelta(hours=23)
    async with db.session() as session:
        found = await web_sessions.find_session(session, "s1", later)
        assert found is not None and found[1].id == account_id
        await web_sessions.touch_session(session, row.id, later, lifetime)
        await session.commit()
    async with db.session() as session:
        # Visited at 23 h: alive at 46 h, gone past 47 h.
        assert await web_sessions.find_session(session, "s1", NOW + timedelta(hours=46))
        assert await web_sessions.find_session(session, "s1", NOW + timedelta(hours=47)) is None
        assert await web_sessions.find_session(session, "unknown", NOW) is None
        await web_sessions.delete_expired_sessions(session, NOW + timedelta(hours=48))
        await session.commit()
    rows = await _count_sessions(db)
    assert rows == 0


async def _count_sessions(db: Database) -> int:
    from sqlalchemy import text

    async with db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM web_sessions"))).scalar_one())
