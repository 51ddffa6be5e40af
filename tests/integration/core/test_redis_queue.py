"""The arq queue on a real Redis: priority order as arq itself takes jobs, dedup, outages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from arq import Worker
from arq.worker import func
from redis.exceptions import RedisError

from pyexec.core.redis_client import connect
from pyexec.core.redis_keys import QUEUE, RUN_JOB_TASK
from pyexec.core.redis_queue import RedisQueue, queue_score
from tests.support.services import RedisServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def queue(redis_server: RedisServer):
    q = RedisQueue(connect(redis_server.url))
    await q.redis.flushdb()
    try:
        yield q
    finally:
        await q.close()


async def _taken_by_arq(redis_url: str) -> list[str]:
    """Run a burst arq worker with one slot, as `pyexec worker` configures it; the start order."""
    started: list[str] = []

    # The task's signature is `run_job_task`'s: the queue passes each job's context along.
    async def record(ctx: dict, job_id: str, context: dict | None = None) -> None:
        assert isinstance(context, dict) and "enqueued_at_ns" in context
        started.append(job_id)

    worker = Worker(
        functions=[func(record, name=RUN_JOB_TASK, keep_result=0)],
        queue_name=QUEUE,
        redis_pool=connect(redis_url),
        burst=True,
        poll_delay=0,
        max_jobs=1,
        keep_result=0,
        handle_signals=False,
    )
    try:
        await worker.async_run()
    finally:
        await worker.close()
    return started


async def test_arq_starts_higher_priority_first_then_fifo(
    queue: RedisQueue, redis_server: RedisServer
) -> None:
    rng = random.Random(7)
    jobs = [(f"job-{i:02d}", rng.randint(1, 10), T0 + timedelta(seconds=i)) for i in range(30)]
    # Queued in shuffled order: the order of arrival in Redis must not matter, only the
    # priority and the submission time.
    for job_id, priority, submitted in rng.sample(jobs, len(jobs)):
        assert await queue.add(job_id, priority, submitted)
    expected = [j for j, _, _ in sorted(jobs, key=lambda j: (-j[1], j[2]))]
    assert await _taken_by_arq(redis_server.url) == expected


async def test_a_job_submitted_years_later_still_waits_behind_higher_priorities() -> None:
    old_low = queue_score(1, T0)
    new_high = queue_score(2, T0 + timedelta(days=3 * 365))
    assert new_high < old_low
    assert queue_score(10, T0) < queue_score(10, T0 + timedelta(milliseconds=1))
    # Out-of-range priorities are clamped, and every score is due at once.
    assert queue_score(99, T0) == queue_score(10, T0)
    assert queue_score(1, datetime.now(UTC)) < datetime.now(UTC).timestamp() * 1000


async def test_duplicate_enqueue_is_ignored_and_missing_lists_the_rest(
    queue: RedisQueue,
) -> None:
    assert await queue.add("a", 5, T0)
    assert not await queue.add("a", 5, T0)
    await queue.enqueue("b", 5)
    assert await queue.missing(["a", "b", "c"]) == ["c"]
    assert await queue.redis.zcard(QUEUE) == 2


async def test_enqueue_while_redis_is_down_does_not_raise(redis_server: RedisServer) -> None:
    queue = RedisQueue(connect(redis_server.url))
    redis_server.stop()
    try:
        assert not await queue.ready()
        await queue.enqueue("x", 5)  # logged; the reconciler queues it later
        with pytest.raises(RedisError):  # the reconciler's path raises, and skips its pass
            await queue.missing(["x"])
    finally:
        redis_server.start()
        await queue.close()
    again = RedisQueue(connect(redis_server.url))
    assert await again.ready()
    await again.close()
