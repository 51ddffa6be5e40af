"""The daily request counter and quota policy, with an injected clock.

`counter` is parametrised by backend: the scaled-out deployment adds its Redis counter to
`COUNTER_BACKENDS` and the same tests run against it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from core import repository
from core.clock import ManualClock
from core.db import Database
from core.migrate import upgrade
from core.ratelimit import DatabaseRequestCounter, RequestCounter, next_midnight, take_request


async def _database_counter(tmp_path: Path) -> tuple[RequestCounter, list[str]]:
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


CounterFactory = Callable[[Path], Awaitable[tuple[RequestCounter, list[str]]]]
COUNTER_BACKENDS: dict[str, CounterFactory] = {"database": _database_counter}


@pytest.fixture(params=sorted(COUNTER_BACKENDS))
async def counter(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[RequestCounter, list[str]]]:
    made, accounts = await COUNTER_BACKENDS[request.param](tmp_path)
    try:
        yield made, accounts
    finally:
        await made.close()
        if isinstance(made, DatabaseRequestCounter):
            await made.db.dispose()


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


def test_next_midnight_and_manual_clock() -> None:
    assert next_midnight(datetime(2026, 12, 31, 0, 0, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))
