"""Job events across processes: a Redis stream per job (the log) plus pub/sub (the live feed).

Publishing is one Lua call: XADD to the job's stream (its entry id becomes the event id),
refresh the stream's expiry, and PUBLISH "<id> <json>" on the job's channel. Each process holds
one pub/sub connection shared by all its listeners. A listener starts from a position (an id it
saw, the beginning, or the stream's end for live-only listeners), joins the channel, then
reads the stream after its position; live messages that arrive meanwhile are held back and
released in id order, and any id at or before the position is dropped. After the pub/sub
connection drops (a Redis restart), every listener catches up from the stream the same way:
no gap and no repeat while the stream exists.

If Redis is unreachable, `publish` keeps the events in order in a bounded outbox and sends
them when Redis is back, so that a short outage delays events (and cancel requests) instead of
losing them, and a job never fails because its event could not be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from pyexec.core.event_types import JobEvent
from pyexec.core.events import MAX_LOG_EVENTS, Event, JobEvents
from pyexec.core.redis_keys import (
    EVENTS_CHANNEL_PREFIX,
    IDLE_CHANNEL,
    events_channel,
    events_stream,
)

log = logging.getLogger("pyexec.events")

StreamId = tuple[int, int]

# KEYS[1] the stream; ARGV: event json, max entries, retention ms, channel.
APPEND_SCRIPT = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], id .. ' ' .. ARGV[1])
return id
"""

SUBSCRIBE_CONFIRM_SECONDS = 2.0
READ_BATCH = 1000
OUTBOX_MAX = 50_000
RECONNECT_BACKOFF_MAX_SECONDS = 2.0
_ID = re.compile(r"\d{1,20}(-\d{1,20})?")


def parse_stream_id(value: str | bytes) -> StreamId:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_stream_id(value: StreamId) -> str:
    return f"{value[0]}-{value[1]}"


class _Inbox(asyncio.Queue[Event]):
    """One listener's queue, with its position in the job's stream."""

    def __init__(self, position: StreamId | None, max_backlog: int) -> None:
        super().__init__()
        self.position = position
        self.catching_up = 0
        self.held: list[tuple[StreamId, Event]] = []
        self.max_backlog = max_backlog

    def offer(self, event_id: StreamId, event: Event) -> None:
        if self.catching_up:
            self.held.append((event_id, event))
        else:
            self.accept(event_id, event)

    def accept(self, event_id: StreamId, event: Event) -> None:
        if self.position is not None and event_id <= self.position:
            return
        self.position = event_id
        if self.qsize() < self.max_backlog:
            self.put_nowait(event)

    def release_held(self) -> None:
        held, self.held = self.held, []
        for event_id, event in sorted(held, key=lambda item: item[0]):
            self.accept(event_id, event)


class RedisEvents(JobEvents):
    def __init__(
        self, redis: Redis, *, retention_seconds: float = 3600.0, max_backlog: int = 10_000
    ) -> None:
        self._redis = redis
        self._append = redis.register_script(APPEND_SCRIPT)
        self._retention_ms = int(retention_seconds * 1000)
        self._max_backlog = max_backlog
        self._inboxes: dict[str, set[_Inbox]] = defaultdict(set)
        self._pubsub: PubSub | None = None
        self._joined: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._outbox: deque[tuple[str, str]] = deque(maxlen=OUTBOX_MAX)
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        # The pub/sub connection failed and is not back yet.
        self._down = False

    # -- publishing --------------------------------------------------------------------

    async def publish(self, job_id: str, event: JobEvent) -> None:
        payload = json.dumps(event.wire(), separators=(",", ":"), default=str)
        if not self._outbox:
            try:
                await self._send(job_id, payload)
                return
            except (RedisError, OSError) as exc:
                log.warning(
                    "Redis unreachable (%s: %s): holding job events until it is back",
                    type(exc).__name__,
                    exc,
                )
        if len(self._outbox) == self._outbox.maxlen:
            log.error("event outbox full: dropping the oldest held event")
        self._outbox.append((job_id, payload))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="pyexec-events-outbox")

    async def _send(self, job_id: str, payload: str) -> None:
        await self._append(
            keys=[events_stream(job_id)],
            args=[payload, MAX_LOG_EVENTS, self._retention_ms, events_channel(job_id)],
        )

    async def _flush(self) -> None:
        delay = 0.1
        while self._outbox:
            job_id, payload = self._outbox[0]
            try:
                await self._send(job_id, payload)
            except (RedisError, OSError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_BACKOFF_MAX_SECONDS)
                continue
            self._outbox.popleft()
            delay = 0.1
        log.info("Redis is back: held job events sent")

    # -- listening ---------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(self, job_id: str, since: str | None = None) -> AsyncIterator[_Inbox]:
        if since is not None:
            position: StreamId | None = parse_stream_id(since)
        else:
            position = await self._tail(job_id)
        inbox = _Inbox(position, self._max_backlog)
        self._inboxes[job_id].add(inbox)
        try:
            self._ensure_reader()
            await self._join(job_id)
            await self._catch_up(job_id, inbox)
            yield inbox
        finally:
            inboxes = self._inboxes.get(job_id)
            if inboxes is not None:
                inboxes.discard(inbox)
                if not inboxes:
                    del self._inboxes[job_id]
                    await self._leave(job_id)

    def is_event_id(self, value: str) -> bool:
        return bool(_ID.fullmatch(value))

    async def _tail(self, job_id: str) -> StreamId:
        """The id of the job's last logged event: a live-only listener starts after it."""
        try:
            last = await self._redis.xrevrange(events_stream(job_id), count=1)
        except (RedisError, OSError):
            return (0, 0)  # unknown: after a reconnect this listener replays the whole log
        return parse_stream_id(last[0][0]) if last else (0, 0)

    async def _join(self, job_id: str) -> None:
        channel = events_channel(job_id)
        if channel in self._joined or self._down:
            # Joined already, or Redis is away: the reader joins and catches up when it is back.
            return
        confirmation = self._confirmations.get(channel)
        if confirmation is None:
            confirmation = asyncio.get_running_loop().create_future()
            self._confirmations[channel] = confirmation
            if self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(channel)
        try:
            await asyncio.wait_for(asyncio.shield(confirmation), SUBSCRIBE_CONFIRM_SECONDS)
        except TimeoutError:
            # Redis is away; the reader subscribes and catches this listener up when it is back.
            log.warning("events of job %s: no subscription yet (Redis unreachable?)", job_id)

    async def _leave(self, job_id: str) -> None:
        channel = events_channel(job_id)
        self._joined.discard(channel)
        self._confirmations.pop(channel, None)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    def _catch_up(self, job_id: str, inbox: _Inbox) -> Coroutine[Any, Any, None]:
        """Read the log after the inbox's position; live events are held back meanwhile.

        Not a coroutine function: the hold starts now, before the returned coroutine first
        runs, so that no live event can move the position past an event only the log has.
        """
        inbox.catching_up += 1
        return self._read_log(job_id, inbox, inbox.position or (0, 0))

    async def _read_log(self, job_id: str, inbox: _Inbox, start: StreamId) -> None:
        try:
            while True:
                entries = await self._redis.xrange(
                    events_stream(job_id),
                    min=f"({format_stream_id(start)}",
                    max="+",
                    count=READ_BATCH,
                )
                for raw_id, fields in entries:
                    start = parse_stream_id(raw_id)
                    inbox.accept(start, _event(start, fields[b"e"]))
                if len(entries) < READ_BATCH:
                    break
        except (RedisError, OSError) as exc:
            log.debug("events of job %s: catch-up deferred (%s)", job_id, exc)
        finally:
            inbox.catching_up -= 1
            if not inbox.catching_up:
                inbox.release_held()

    def _ensure_reader(self) -> None:
        if not self._closed and (self._reader is None or self._reader.done()):
            self._reader = asyncio.create_task(self._read_forever(), name="pyexec-events-reader")

    async def _read_forever(self) -> None:
        delay = 0.1
        while not self._closed:
            pubsub = self._redis.pubsub()
            try:
                sent = {IDLE_CHANNEL, *(events_channel(j) for j in self._inboxes)}
                await pubsub.subscribe(*sent)
                # From here on, `_join` subscribes new channels itself; channels of listeners
                # that arrived while the subscription above was in flight are sent now.
                self._pubsub = pubsub
                self._down = False
                late = {events_channel(j) for j in self._inboxes} - sent
                if late:
                    await pubsub.subscribe(*late)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        delay = 0.1
                        self._handle(message)
            except (RedisError, OSError) as exc:
                if self._pubsub is not None:
                    log.warning("events: lost the Redis pub/sub connection (%s)", exc)
                self._down = True
            finally:
                self._pubsub = None
                self._joined.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_BACKOFF_MAX_SECONDS)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = _text(message.get("channel"))
        if kind == "subscribe":
            self._joined.add(channel)
            confirmation = self._confirmations.pop(channel, None)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(None)
            job_id = _job_of(channel)
            # After a reconnect the listeners may have missed events: read them from the log.
            if job_id:
                for inbox in list(self._inboxes.get(job_id, ())):
                    self._spawn(self._catch_up(job_id, inbox))
        elif kind == "message":
            job_id = _job_of(channel)
            inboxes = self._inboxes.get(job_id) if job_id else None
            if not inboxes:
                return
            raw_id, _, payload = _text(message.get("data")).partition(" ")
            event_id = parse_stream_id(raw_id)
            event = _event(event_id, payload)
            for inbox in list(inboxes):
                inbox.offer(event_id, event)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closed = True
        if self._flusher is not None and not self._flusher.done():
            # Give held events a last chance to reach Redis before the process goes.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._flusher), 2.0)
        for task in (self._reader, self._flusher, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._reader, self._flusher, *self._tasks):
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        await self._redis.aclose(close_connection_pool=True)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value) if value is not None else ""


def _job_of(channel: str) -> str | None:
    if channel.startswith(EVENTS_CHANNEL_PREFIX):
        return channel[len(EVENTS_CHANNEL_PREFIX) :]
    return None


def _event(event_id: StreamId, payload: str | bytes) -> Event:
    event: dict[str, Any] = json.loads(payload)
    event["id"] = format_stream_id(event_id)
    return event
