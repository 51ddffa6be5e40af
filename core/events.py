"""Job events: status changes, cells, output, and cancel requests, fanned out to listeners.

`?wait=` and cancellation listen here. The in-process bus serves the embedded deployment; a
Redis pub/sub bus with the same interface serves the scaled-out one.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Event = dict[str, Any]

STATUS = "status"
CANCEL_REQUESTED = "cancel_requested"


class JobEvents(ABC):
    @abstractmethod
    async def publish(self, job_id: str, event: Event) -> None: ...

    @abstractmethod
    def subscribe(self, job_id: str) -> Any:
        """`async with events.subscribe(job_id) as inbox:` then `await inbox.get()`."""

    async def close(self) -> None:
        return None


class InProcessEvents(JobEvents):
    def __init__(self, max_backlog: int = 10_000) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
        self._max_backlog = max_backlog

    async def publish(self, job_id: str, event: Event) -> None:
        for inbox in list(self._subscribers.get(job_id, ())):
            if inbox.qsize() < self._max_backlog:
                inbox.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[asyncio.Queue[Event]]:
        inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers[job_id].add(inbox)
        try:
            yield inbox
        finally:
            subscribers = self._subscribers.get(job_id)
            if subscribers is not None:
                subscribers.discard(inbox)
                if not subscribers:
                    del self._subscribers[job_id]
