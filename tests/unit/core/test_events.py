from __future__ import annotations

import asyncio

from pyexec.core.event_types import CellOutput, CellStarted, StatusChanged
from pyexec.core.events import BEGINNING, InProcessEvents, is_final_status_event


async def _drain(inbox: asyncio.Queue) -> list[dict]:
    items = []
    while not inbox.empty():
        items.append(inbox.get_nowait())
    return items


async def test_events_carry_increasing_ids_per_job() -> None:
    events = InProcessEvents()
    async with events.subscribe("a") as inbox:
        await events.publish("a", StatusChanged(status="running"))
        await events.publish("b", StatusChanged(status="running"))
        await events.publish("a", CellStarted(cell=1, source="1"))
        got = await _drain(inbox)
    assert [(e["id"], e["type"]) for e in got] == [("1", "status"), ("2", "cell_started")]


async def test_live_only_subscriber_gets_no_history() -> None:
    events = InProcessEvents()
    await events.publish("a", StatusChanged(status="pending"))
    async with events.subscribe("a") as inbox:
        assert inbox.empty()
        await events.publish("a", StatusChanged(status="running"))
        assert [e["status"] for e in await _drain(inbox)] == ["running"]


async def test_since_replays_the_log_then_follows_live_without_gap_or_repeat() -> None:
    events = InProcessEvents()
    for n in range(1, 6):
        await events.publish("a", CellOutput(cell=n, output={}))
    async with events.subscribe("a", since=BEGINNING) as inbox:
        await events.publish("a", CellOutput(cell=6, output={}))
        assert [e["cell"] for e in await _drain(inbox)] == [1, 2, 3, 4, 5, 6]
    async with events.subscribe("a", since="4") as inbox:
        await events.publish("a", CellOutput(cell=7, output={}))
        assert [e["cell"] for e in await _drain(inbox)] == [5, 6, 7]


async def test_log_is_dropped_after_the_retention() -> None:
    events = InProcessEvents(retention_seconds=0.05)
    await events.publish("a", StatusChanged(status="completed"))
    await asyncio.sleep(0.2)
    async with events.subscribe("a", since=BEGINNING) as inbox:
        assert inbox.empty()


def test_event_ids_and_final_status() -> None:
    events = InProcessEvents()
    assert events.is_event_id("12") and not events.is_event_id("1-0")
    assert not events.is_event_id("x") and not events.is_event_id("")
    assert is_final_status_event(StatusChanged(status="cancelled").wire())
    assert not is_final_status_event(StatusChanged(status="running").wire())
    assert not is_final_status_event({"type": "output", "status": "completed"})
