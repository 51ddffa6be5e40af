"""The scaled-out job queue: arq on Redis, with honest priorities.

arq keeps queued job ids in a sorted set whose score is the time a job becomes eligible, and
a worker takes the lowest scores that are due, oldest first. PyExec enqueues every job with an
eligibility time moved back by its priority:

    score = submitted_at (ms) - priority * PRIORITY_STRIDE_MS        (stride ≈ 3.2 years)

Every score is in the past, so every job is due at once; a higher priority always sorts first,
and within a priority the earlier submission does. The rule is strict, exactly as in the
embedded queue: a priority-1 job waits for as long as a job of higher priority is queued (no
ageing), which is what "10 is the most urgent" promises. Submission times come from the API
processes' clocks at millisecond resolution: jobs submitted within the same millisecond, or on
machines whose clocks disagree, are ordered by that skew.

The database stays the source of truth. A job that cannot be queued because Redis is down
stays `pending` in the database, and the workers' reconciler queues it when Redis is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from pyexec.core.clock import utcnow
from pyexec.core.job_context import JobContext, JobOwner
from pyexec.core.queue import JobQueue
from pyexec.core.redis_keys import (
    QUEUE,
    QUEUE_WAKE_CHANNEL,
    RUN_JOB_TASK,
    arq_in_progress_key,
    arq_job_key,
)

log = logging.getLogger("pyexec.queue")

PRIORITY_STRIDE_MS = 100_000_000_000
MIN_PRIORITY, MAX_PRIORITY = 1, 10
# arq drops a job that waited this long; the reconciler queues it again if it is still pending.
QUEUED_JOB_TTL = timedelta(days=7)
# After a failed enqueue, skip Redis for this long so that a Redis outage does not add a
# connect timeout to every submission (the reconciler queues those jobs).
UNAVAILABLE_BACKOFF_SECONDS = 2.0


def queue_score(priority: int, submitted_at: datetime) -> int:
    """The arq score of a job: lower starts first (see the module docstring)."""
    priority = min(max(priority, MIN_PRIORITY), MAX_PRIORITY)
    if submitted_at.tzinfo is None:  # SQLite hands back naive UTC datetimes
        submitted_at = submitted_at.replace(tzinfo=UTC)
    return int(submitted_at.timestamp() * 1000) - priority * PRIORITY_STRIDE_MS


def queue_priority(score: float, now_ms: float) -> int:
    """The priority a queue score was made with (`queue_score`'s inverse): a job waits far
    less than a stride, so the nearest multiple of the stride below `now_ms` is its own."""
    return min(max(round((now_ms - score) / PRIORITY_STRIDE_MS), MIN_PRIORITY), MAX_PRIORITY)


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member


class RedisQueue(JobQueue):
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._unavailable_until = 0.0

    async def enqueue(
        self,
        job_id: str,
        priority: int,
        *,
        submitted_at: datetime | None = None,
        owner: JobOwner | None = None,
    ) -> None:
        """Queue the job; if Redis is unreachable, log it and leave the job to the reconciler."""
        if time.monotonic() < self._unavailable_until:
            log.warning("Redis unavailable: job %s stays pending for the reconciler", job_id)
            return
        try:
            await self.add(job_id, priority, submitted_at or utcnow(), owner)
        except (RedisError, OSError) as exc:
            self._unavailable_until = time.monotonic() + UNAVAILABLE_BACKOFF_SECONDS
            log.warning(
                "could not queue job %s (%s: %s); it stays pending and the reconciler "
                "queues it when Redis is back",
                job_id,
                type(exc).__name__,
                exc,
            )

    async def add(
        self, job_id: str, priority: int, submitted_at: datetime, owner: JobOwner | None = None
    ) -> bool:
        """Queue the job; False if it is already queued or running. Raises if Redis is down."""
        score_ms = queue_score(priority, submitted_at)
        job = await self.redis.enqueue_job(
            RUN_JOB_TASK,
            job_id,
            context=JobContext.capture(job_id, owner).as_dict(),
            _job_id=job_id,
            _queue_name=QUEUE,
            _defer_until=datetime.fromtimestamp(score_ms / 1000, UTC),
            _expires=QUEUED_JOB_TTL,
        )
        self._unavailable_until = 0.0
        if job is None:
            return False
        # Idle workers look now instead of at their next poll.
        await self.redis.publish(QUEUE_WAKE_CHANNEL, job_id)
        return True

    async def missing(self, job_ids: Sequence[str]) -> list[str]:
        """The ids among `job_ids` that arq does not hold (neither queued nor running)."""
        if not job_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.exists(arq_job_key(job_id))
            found = await pipe.execute()
        return [job_id for job_id, n in zip(job_ids, found, strict=True) if not n]

    async def depth(self) -> dict[int, int]:
        """Queued jobs that no worker runs yet, by priority (read back from their scores;
        arq keeps a running job in the sorted set until it ends). Raises if Redis is down."""
        entries = await self.redis.zrange(QUEUE, 0, -1, withscores=True)
        if not entries:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for member, _ in entries:
                pipe.exists(arq_in_progress_key(_text(member)))
            running = await pipe.execute()
        now_ms = time.time() * 1000
        depth: dict[int, int] = {}
        for (_, score), taken in zip(entries, running, strict=True):
            if not taken:
                priority = queue_priority(score, now_ms)
                depth[priority] = depth.get(priority, 0) + 1
        return depth

    async def ready(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.redis.aclose(close_connection_pool=True)
