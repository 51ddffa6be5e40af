"""Job events through a real Redis: ids, replay, resume, and no gap across lost connections."""

from __future__ import annotations

import asyncio

import pytest

from pyexec.core.event_types import CellOutput, CellStarted, StatusChanged
from pyexec.core.events import BEGINNING
from pyexec.core.redis_client import connect
from pyexec.core.redis_events import RedisEvents
from tests.support.services import RedisServer

GET_TIMEOUT = 5.0


@pytest.fixture
async def bus(redis_server: RedisServer):
    events = RedisEvents(connect(redis_server.url), retention_seconds=60)
    try:
        yield events
    finally:
        await events.close()


@pytest.fixture
async def other_process_bus(redis_server: RedisServer):
    """A second bus, as another process (an API beside a worker) would hold."""
    events = RedisEvents(connect(redis_server.url), retention_seconds=60)
    try:
        yield events
    finally:
        await events.close()


async def _take(inbox: asyncio.Queue, n: int) -> list[dict]:
    return [await asyncio.wait_for(inbox.get(), GET_TIMEOUT) for _ in range(n)]


async def test_events_cross_processes_with_stream_ids(
    bus: RedisEvents, other_process_bus: RedisEvents
) -> None:
    async with other_process_bus.subscribe("job-1") as inbox:
        await bus.publish("job-1", StatusChanged(status="running"))
        await bus.publish("job-2", StatusChanged(status="running"))
        await bus.publish("job-1", CellStarted(cell=1, source="1"))
        got = await _take(inbox, 2)
        assert inbox.empty()
    assert [e["type"] for e in got] == ["status", "cell_started"]
    assert all(bus.is_event_id(e["id"]) for e in got)
    assert got[0]["id"] < got[1]["id"] or len(got[0]["id"]) < len(got[1]["id"])
    assert not bus.is_event_id("abc") and bus.is_event_id(BEGINNING)


async def test_replay_from_the_beginning_and_resume_after_an_id(bus: RedisEvents) -> None:
    for n in range(1, 6):
        await bus.publish("job-r", CellOutput(cell=n, output={}))
    async with bus.subscribe("job-r", since=BEGINNING) as inbox:
        first = await _take(inbox, 5)
        await bus.publish("job-r", CellOutput(cell=6, output={}))
        assert [e["cell"] for e in first + await _take(inbox, 1)] == [1, 2, 3, 4, 5, 6]
    async with bus.subscribe("job-r", since=first[2]["id"]) as inbox:
        assert [e["cell"] for e in await _take(inbox, 3)] == [4, 5, 6]
        await asyncio.sleep(0.1)
        assert inbox.empty()


async def test_live_only_listener_starts_after_the_log(bus: RedisEvents) -> None:
    await bus.publish("job-l", StatusChanged(status="pending"))
    async with bus.subscribe("job-l") as inbox:
        await bus.publish("job-l", StatusChanged(status="running"))
        assert [e["status"] for e in await _take(inbox, 1)] == ["running"]


async def test_no_gap_when_the_pubsub_connection_is_killed(
    bus: RedisEvents, other_process_bus: RedisEvents, redis_server: RedisServer
) -> None:
    admin = connect(redis_server.url)
    try:
        async with other_process_bus.subscribe("job-k", since=BEGINNING) as inbox:
            await bus.publish("job-k", CellOutput(cell=0, output={}))
            await _take(inbox, 1)
            # Drop the listener's pub/sub connection, then publish while it reconnects: the
            # events it could not hear live must come from the stream, in order, once each.
            await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            for n in range(1, 51):
                await bus.publish("job-k", CellOutput(cell=n, output={}))
            got = await _take(inbox, 50)
            await asyncio.sleep(0.2)
            assert inbox.empty()
        assert [e["cell"] for e in got] == list(range(1, 51))
    finally:
        await admin.aclose()


async def test_events_published_while_redis_is_down_arrive_after_it_returns(
    bus: RedisEvents, other_process_bus: RedisEvents, redis_server: RedisServer
) -> None:
    async with other_process_bus.subscribe("job-d") as inbox:
        redis_server.stop()
        for n in range(1, 4):
            await bus.publish("job-d", CellOutput(cell=n, output={}))  # never raises
        redis_server.start()  # empty: the log of before is gone, the held events are not
        got = await _take(inbox, 3)
    assert [e["cell"] for e in got] == [1, 2, 3]
