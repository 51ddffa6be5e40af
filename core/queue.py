"""The job queue: the API enqueues job ids, workers take them, most urgent first.

Two implementations share the interface: the in-process priority queue of the embedded
deployment (here) and arq on Redis for the scaled-out one. The database stays the source of
truth: a queue only carries ids, and the embedded queue is rebuilt from pending rows on start.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from abc import ABC, abstractmethod
from collections import Counter
from datetime import datetime
from typing import NamedTuple

from pyexec.core.job_context import JobContext, JobOwner


class JobQueue(ABC):
    @abstractmethod
    async def enqueue(
        self,
        job_id: str,
        priority: int,
        *,
        submitted_at: datetime | None = None,
        owner: JobOwner | None = None,
    ) -> None:
        """Make a committed pending job eligible to run; priority 10 is the most urgent.

        `submitted_at` (the job's `created_at`) keeps a re-queued job in its first place among
        its priority; without it the job queues as if submitted now. `owner`, when the caller
        knows it, spares the worker reading the account.
        """

    async def ready(self) -> bool:
        return True

    async def depth(self) -> dict[int, int]:
        """Jobs queued and not yet started, by priority (for /metrics); held jobs excluded."""
        return {}

    async def close(self) -> None:
        return None


class QueuedJob(NamedTuple):
    """A queue entry; entries order most urgent first, then first in first out."""

    neg_priority: int
    seq: int
    job_id: str
    context: JobContext = JobContext()  # never compared: `seq` is unique


class InProcessQueue(JobQueue):
    """Priority 10 before 1; first in, first out within a priority.

    A consumer that takes a job it may not start yet (its account already runs as many jobs as
    its plan allows) `hold`s it under a group: it leaves the line without blocking anyone behind
    it, and `release(group)` puts it back in its original place.
    """

    def __init__(self) -> None:
        self._heap: list[QueuedJob] = []
        self._seq = itertools.count()
        self._queued: set[str] = set()
        self._held: dict[str, list[QueuedJob]] = {}
        self._available = asyncio.Condition()

    async def enqueue(
        self,
        job_id: str,
        priority: int,
        *,
        submitted_at: datetime | None = None,
        owner: JobOwner | None = None,
    ) -> None:
        # Recovery re-queues pending rows in (priority, created_at) order, so arrival order
        # is submission order here and `submitted_at` is not needed.
        async with self._available:
            if job_id in self._queued:
                return
            self._queued.add(job_id)
            context = JobContext.capture(job_id, owner)
            entry = QueuedJob(-priority, next(self._seq), job_id, context)
            heapq.heappush(self._heap, entry)
            self._available.notify()

    async def take(self) -> QueuedJob:
        async with self._available:
            await self._available.wait_for(lambda: bool(self._heap))
            entry = heapq.heappop(self._heap)
            self._queued.discard(entry.job_id)
            return entry

    async def get(self) -> str:
        return (await self.take()).job_id

    def hold(self, entry: QueuedJob, group: str) -> None:
        """Set a taken job aside until `release(group)`. Synchronous on purpose: a consumer that
        decides to hold does so with no await in between, so no release can slip past it."""
        self._held.setdefault(group, []).append(entry)

    async def release(self, group: str) -> None:
        held = self._held.pop(group, [])
        if not held:
            return
        async with self._available:
            for entry in held:
                if entry.job_id not in self._queued:
                    self._queued.add(entry.job_id)
                    heapq.heappush(self._heap, entry)
            self._available.notify(len(held))

    def qsize(self) -> int:
        return len(self._heap)

    async def depth(self) -> dict[int, int]:
        return dict(Counter(-entry.neg_priority for entry in self._heap))

    def held(self) -> int:
        return sum(len(entries) for entries in self._held.values())
