"""Account slots (worker.admission) on a real Redis: the limit under concurrent admissions,
the order held jobs are released in, expiry, and renewal with the job leases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from pyexec.core.redis_client import connect
from pyexec.core.redis_keys import held_key, running_key
from pyexec.core.redis_queue import queue_score
from pyexec.worker.admission import AccountSlots
from pyexec.worker.leases import Leases
from tests.support.services import RedisServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = "acct-1"
SHORT_LIFE_SECONDS = 0.3
PATIENCE_SECONDS = 10.0


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = connect(redis_server.url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose(close_connection_pool=True)


async def test_concurrent_admissions_never_exceed_the_limit(
    redis: Redis, redis_server: RedisServer
) -> None:
    # One client per "worker": the admissions race in Redis, not in one Python process.
    workers = [AccountSlots(connect(redis_server.url), lease_seconds=30) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(
                workers[i % 4].admit(ACCOUNT, f"job-{i:02d}", 3, queue_score(5, T0))
                for i in range(40)
            )
        )
    finally:
        for w in workers:
            await w.redis.aclose(close_connection_pool=True)
    assert sum(results) == 3
    assert await redis.zcard(running_key(ACCOUNT)) == 3
    assert await redis.zcard(held_key(ACCOUNT)) == 37
    slots = AccountSlots(redis, lease_seconds=30)
    # A job that has its slot keeps it when delivered again; another account is not affected.
    admitted = [f"job-{i:02d}" for i, ok in enumerate(results) if ok]
    assert await slots.admit(ACCOUNT, admitted[0], 3, queue_score(5, T0))
    assert await slots.admit("acct-2", "other", 1, queue_score(5, T0))
    assert not await slots.admit(ACCOUNT, "job-late", 3, queue_score(5, T0))


async def test_finish_releases_held_jobs_by_priority_then_age_and_reserves_their_slot(
    redis: Redis,
) -> None:
    slots = AccountSlots(redis, lease_seconds=30)
    assert await slots.admit(ACCOUNT, "first", 1, queue_score(5, T0))
    waiting = {
        "low-old": (1, T0),
        "high-new": (10, T0 + timedelta(seconds=9)),
        "mid-new": (5, T0 + timedelta(seconds=5)),
        "mid-old": (5, T0 + timedelta(seconds=1)),
        "high-old": (10, T0 + timedelta(seconds=2)),
    }
    for job_id, (priority, submitted) in waiting.items():
        assert not await slots.admit(ACCOUNT, job_id, 1, queue_score(priority, submitted))

    order = []
    running = "first"
    while True:
        released = await slots.finish(ACCOUNT, running, 1)
        if not released:
            break
        [running] = released
        order.append(running)
        # The slot is reserved for the released job: a newcomer cannot take it on the way,
        # and the released job's next delivery finds it.
        assert not await slots.admit(ACCOUNT, f"newcomer-{running}", 1, queue_score(10, T0))
        assert await slots.admit(ACCOUNT, running, 1, queue_score(1, T0))
        await redis.zrem(held_key(ACCOUNT), f"newcomer-{running}")
    assert order == ["high-old", "high-new", "mid-old", "mid-new", "low-old"]
    assert await redis.exists(running_key(ACCOUNT), held_key(ACCOUNT)) == 0


async def test_finish_fills_every_free_slot(redis: Redis) -> None:
    slots = AccountSlots(redis, lease_seconds=30)
    assert await slots.admit(ACCOUNT, "a", 1, queue_score(5, T0))
    for i in range(4):
        assert not await slots.admit(ACCOUNT, f"h{i}", 1, queue_score(5, T0 + timedelta(seconds=i)))
    # The plan's limit was raised to 3 meanwhile: a finish hands out every free slot.
    assert await slots.finish(ACCOUNT, "a", 3) == ["h0", "h1", "h2"]
    assert await slots.finish(ACCOUNT, None, 3) == []  # all taken (reserved)
    assert await slots.finish(ACCOUNT, "h0", 3) == ["h3"]


async def test_an_entry_is_renewed_with_its_lease_and_expires_without_it(redis: Redis) -> None:
    slots = AccountSlots(redis, lease_seconds=SHORT_LIFE_SECONDS)
    leases = Leases(redis, "worker-1", SHORT_LIFE_SECONDS)
    assert await leases.acquire("kept")
    assert await slots.admit(ACCOUNT, "kept", 1, queue_score(5, T0))
    leases.renew_slot("kept", ACCOUNT)
    assert not await slots.admit(ACCOUNT, "waiting", 1, queue_score(5, T0))

    before = await redis.zscore(running_key(ACCOUNT), "kept")
    await asyncio.sleep(0.01)
    await leases.renew_all()
    assert await redis.zscore(running_key(ACCOUNT), "kept") > before
    # Once no one renews it (its worker died), the slot frees within a life.
    assert await _poll_release(slots) == ["waiting"]


async def test_renewal_recreates_a_lost_entry_only_after_redis_lost_everything(
    redis: Redis,
) -> None:
    slots = AccountSlots(redis, lease_seconds=30)
    leases = Leases(redis, "worker-1", 30)
    assert await leases.acquire("job")
    assert await slots.admit(ACCOUNT, "job", 1, queue_score(5, T0))
    leases.renew_slot("job", ACCOUNT)
    await leases.renew_all()
    # A renewal racing the job's finish does not bring the freed slot back...
    assert await slots.finish(ACCOUNT, "job", 1) == []
    await leases.renew_all()
    assert await redis.zscore(running_key(ACCOUNT), "job") is None
    # ...but after Redis restarted empty, the renewal puts the running job's entry back.
    assert await slots.admit(ACCOUNT, "job", 1, queue_score(5, T0))
    await redis.flushdb()
    await leases.renew_all()
    assert await redis.zscore(running_key(ACCOUNT), "job") is not None
    assert not await slots.admit(ACCOUNT, "other", 1, queue_score(5, T0))


async def _poll_release(slots: AccountSlots) -> list[str]:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        released = await slots.finish(ACCOUNT, None, 1)
        if released:
            return released
        await asyncio.sleep(0.05)
    return []
