"""The daily request counters (the database's and Redis's) and the quota policy, with an
injected clock. Every test that takes `counter` runs against each backend in `COUNTER_BACKENDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio
from sqlmodel import select

from pyexec.core import repository
from pyexec.core.clock import ManualClock
from pyexec.core.db import Database
from pyexec.core.migrate import upgrade
from pyexec.core.models import RequestCount
from pyexec.core.ratelimit import (
    DatabaseRequestCounter,
    RequestCounter,
    next_midnight,
    take_request,
)
from pyexec.core.redis_client import connect
from pyexec.core.redis_keys import request_count_key
from pyexec.core.redis_ratelimit import RedisRequestCounter
from tests.support.services import RedisServer


async def _database_counter(
    tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[DatabaseRequestCounter, list[str]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'counter.db'}"
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    db = Database(url)
    async with db.session() as session:
        accounts = [
            (await repository.create_account(session, f"u{i}@example.com", "free")).id
            for i in range(2)
        ]
        await session.commit()
    return DatabaseRequestCounter(db), accounts


async def _redis_counter(
    tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[RedisRequestCounter, list[str]]:
    # Fresh accounts (random ids) per test: the module's Redis is shared.
    server: RedisServer = request.getfixturevalue("redis_server")
    fallback, accounts = await _database_counter(tmp_path, request)
    return RedisRequestCounter(connect(server.url), fallback=fallback), accounts


CounterFactory = Callable[
    [Path, pytest.FixtureRequest], Awaitable[tuple[RequestCounter, list[str]]]
]
COUNTER_BACKENDS: dict[str, CounterFactory] = {
    "database": _database_counter,
    "redis": _redis_counter,
}


@pytest.fixture(params=sorted(COUNTER_BACKENDS))
async def counter(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[RequestCounter, list[str]]]:
    made, accounts = await COUNTER_BACKENDS[request.param](tmp_path, request)
    try:
        yield made, accounts
    finally:
        await made.close()
        database = made.fallback if isinstance(made, RedisRequestCounter) else made
        assert isinstance(database, DatabaseRequestCounter)
        await database.db.dispose()


DAY = date(2026, 12, 1)


async def test_counts_up_to_the_limit_then_refuses(counter) -> None:
    made, (account, _) = counter
    assert [await made.try_count(account, DAY, 3) for _ in range(5)] == [1, 2, 3, None, None]


async def test_exact_under_concurrency(counter) -> None:
    made, (account, _) = counter
    for _ in range(80):
        await made.try_count(account, DAY, 100)
    results = await asyncio.gather(*(made.try_count(account, DAY, 100) for _ in range(50)))
    assert sorted(r for r in results if r is not None) == list(range(81, 101))
    assert results.count(None) == 30


async def test_days_and_accounts_are_counted_apart(counter) -> None:
    made, (a, b) = counter
    assert await made.try_count(a, DAY, 1) == 1
    assert await made.try_count(a, DAY, 1) is None
    assert await made.try_count(b, DAY, 1) == 1
    assert await made.try_count(a, DAY + timedelta(days=1), 1) == 1


async def test_a_raised_limit_continues_the_days_count(counter) -> None:
    made, (account, _) = counter
    for _ in range(2):
        await made.try_count(account, DAY, 2)
    assert await made.try_count(account, DAY, 2) is None  # refused: not counted
    assert await made.try_count(account, DAY, 10) == 3


async def test_quota_crosses_midnight_utc_with_the_clock(counter) -> None:
    made, (account, _) = counter
    clock = ManualClock(datetime(2026, 12, 1, 23, 59, 59, 250_000, tzinfo=UTC))
    first = await take_request(made, clock, account, 1)
    assert first.allowed and first.remaining == 0
    assert first.resets_at == datetime(2026, 12, 2, tzinfo=UTC)
    refused = await take_request(made, clock, account, 1)
    assert not refused.allowed and refused.retry_after == 1
    assert refused.headers() == {
        "X-RateLimit-Limit": "1",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(datetime(2026, 12, 2, tzinfo=UTC).timestamp())),
        "Retry-After": "1",
    }
    clock.advance(timedelta(milliseconds=750))
    fresh = await take_request(made, clock, account, 1)
    assert fresh.allowed and fresh.resets_at == datetime(2026, 12, 3, tzinfo=UTC)
    assert "Retry-After" not in fresh.headers()


async def test_the_database_forgets_an_accounts_old_days(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    made, (a, b) = await _database_counter(tmp_path, request)
    try:
        for days_ago in (3, 2, 1):
            for account in (a, b):
                await made.try_count(account, DAY - timedelta(days=days_ago), 10)
        await made.try_count(a, DAY, 10)
        await made.try_count(a, DAY, 10)
        async with made.db.session() as session:
            rows = (await session.exec(select(RequestCount))).all()
        kept = sorted((row.account_id == a, row.day, row.count) for row in rows)
        assert kept == [
            # b made no request today: its day before yesterday waits for its next one.
            (False, DAY - timedelta(days=2), 1),
            (False, DAY - timedelta(days=1), 1),
            (True, DAY - timedelta(days=1), 1),
            (True, DAY, 2),
        ]
    finally:
        await made.db.dispose()


def test_next_midnight_and_manual_clock() -> None:
    assert next_midnight(datetime(2026, 12, 31, 0, 0, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))


# -- Redis unreachable -----------------------------------------------------------------------


async def test_redis_unreachable_counts_in_the_database_then_pays_back(
    tmp_path: Path, request: pytest.FixtureRequest, redis_server: RedisServer
) -> None:
    fallback, (account, _) = await _database_counter(tmp_path, request)
    made = RedisRequestCounter(connect(redis_server.url), fallback, unavailable_backoff=0.5)
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    key = request_count_key(account, DAY)
    try:
        assert [await made.try_count(account, DAY, 5) for _ in range(2)] == [1, 2]
        # Unreachable for the counter without losing what Redis holds: new connections are
        # refused (a password), and the counter's open ones are closed.
        await admin.config_set("requirepass", "outage")
        await admin.client_kill_filter(_type="normal", skipme=True)
        during = [await made.try_count(account, DAY, 5) for _ in range(4)]
        assert during == [3, 4, 5, None]  # the limit still holds, from what Redis last said
        assert await admin.get(key) == b"2"
        await admin.config_set("requirepass", "")
        # Within the back-off the database still counts (and refuses: 5 reached).
        assert await made.try_count(account, DAY, 5) is None
        assert await admin.get(key) == b"2"
        await asyncio.sleep(0.6)
        # Back: what the database counted is added to Redis before the next count.
        assert await made.try_count(account, DAY, 5) is None
        assert await admin.get(key) == b"5"
        assert await made.try_count(account, DAY, 7) == 6
        assert 0 < await admin.pttl(key) <= 2 * 86_400_000
    finally:
        await admin.config_set("requirepass", "")
        await admin.aclose()
        await made.close()
        assert isinstance(made.fallback, DatabaseRequestCounter)
        await made.fallback.db.dispose()
