"""Job events: status changes, cells, output, and cancel requests, fanned out to listeners.

`?wait=`, cancellation and `GET /v1/jobs/{id}/events` listen here. Events are published as
the types of `core.event_types` and delivered as their JSON (`Event`), which `parse_event`
reads back. Every event a bus delivers carries an `id`, increasing within a job; a job's
events are also kept in a log for a while (`PYEXEC_EVENTS_RETENTION_SECONDS` after its last
event) so that a listener can start from an id it saw before (SSE's `Last-Event-ID`) and miss
nothing. The in-process bus serves the
embedded deployment; `core.redis_events` (Redis streams + pub/sub) serves the scaled-out one.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from pyexec.core.event_types import JobEvent, is_final_status, parse_event

# An event as a bus delivers it: the JSON of a `JobEvent`, plus its `id`.
Event = dict[str, Any]

# `since=BEGINNING` replays a job's whole log; `since=None` delivers only what comes next.
BEGINNING = "0"
# A job's log keeps at most this many events (the oldest go first).
MAX_LOG_EVENTS = 10_000


def is_final_status_event(event: Event) -> bool:
    try:
        return is_final_status(parse_event(event))
    except ValidationError:
        return False  # of no kind this version knows: not a status


class JobEvents(ABC):
    @abstractmethod
    async def publish(self, job_id: str, event: JobEvent) -> None:
        """Append to the job's log and deliver to its listeners; never raises for a listener."""

    @abstractmethod
    def subscribe(
        self, job_id: str, since: str | None = None
    ) -> AbstractAsyncContextManager[asyncio.Queue[Event]]:
        """`async with events.subscribe(job_id) as inbox:` then `await inbox.get()`.

        With `since` (an event id, or `BEGINNING`), the logged events after it come first,
        then live ones, with no gap and no repeat.
        """

    @abstractmethod
    def is_event_id(self, value: str) -> bool:
        """Whether `value` could be an id of this bus (for checking `Last-Event-ID`)."""

    async def close(self) -> None:
        return None


@dataclass
class _Log:
    entries: deque[tuple[int, Event]] = field(default_factory=lambda: deque(maxlen=MAX_LOG_EVENTS))
    seq: int = 0
    expiry: asyncio.TimerHandle | None = None


class InProcessEvents(JobEvents):
    _ID = re.compile(r"\d{1,18}")

    def __init__(self, max_backlog: int = 10_000, retention_seconds: float = 3600.0) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
        self._logs: dict[str, _Log] = {}
        self._max_backlog = max_backlog
        self._retention = retention_seconds

    async def publish(self, job_id: str, event: JobEvent) -> None:
        log = self._logs.setdefault(job_id, _Log())
        log.seq += 1
        entry = {**event.wire(), "id": str(log.seq)}
        log.entries.append((log.seq, entry))
        # The log lives on for a while after the job's last event, then goes.
        if log.expiry is not None:
            log.expiry.cancel()
        log.expiry = asyncio.get_running_loop().call_later(
            self._retention, self._logs.pop, job_id, None
        )
        for inbox in list(self._subscribers.get(job_id, ())):
            if inbox.qsize() < self._max_backlog:
                inbox.put_nowait(entry)

    @asynccontextmanager
    async def subscribe(
        self, job_id: str, since: str | None = None
    ) -> AsyncIterator[asyncio.Queue[Event]]:
        inbox: asyncio.Queue[Event] = asyncio.Queue()
        if since is not None and (log := self._logs.get(job_id)) is not None:
            after = int(since)
            for seq, entry in log.entries:
                if seq > after:
                    inbox.put_nowait(entry)
        # No await between the replay and joining the listeners: nothing slips in between.
        self._subscribers[job_id].add(inbox)
        try:
            yield inbox
        finally:
            subscribers = self._subscribers.get(job_id)
            if subscribers is not None:
                subscribers.discard(inbox)
                if not subscribers:
                    del self._subscribers[job_id]

    def is_event_id(self, value: str) -> bool:
        return bool(self._ID.fullmatch(value))

    async def close(self) -> None:
        for log in self._logs.values():
            if log.expiry is not None:
                log.expiry.cancel()
        self._logs.clear()
