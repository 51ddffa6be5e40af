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
from datetime import datetime


class JobQueue(ABC):
    @abstractmethod
    async def enqueue(
        self, job_id: str, priority: int, *, submitted_at: datetime | None = None
    ) -> None:
        """Make a committed pending job eligible to run; priority 10 is the most urgent.

        `submitted_at` (the job's `created_at`) keeps a re-queued job in its first place among
        its priority; without it the job queues as if submitted now.
        """

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class InProcessQueue(JobQueue):
    """Priority 10 before 1; first in, first out within a priority."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []
        self._seq = itertools.count()
        self._queued: set[str] = set()
        self._available = asyncio.Condition()

    async def enqueue(
        self, job_id: str, priority: int, *, submitted_at: datetime | None = None
    ) -> None:
        # Recovery re-queues pending rows in (priority, created_at) order, so arrival order
        # is submission order here and `submitted_at` is not needed.
        async with self._available:
            if job_id in self._queued:
                return
            self._queued.add(job_id)
            heapq.heappush(self._heap, (-priority, next(self._seq), job_id))
            self._available.notify()

    async def get(self) -> str:
        async with self._available:
            await self._available.wait_for(lambda: bool(self._heap))
            _, _, job_id = heapq.heappop(self._heap)
            self._queued.discard(job_id)
            return job_id

    def qsize(self) -> int:
        return len(self._heap)
