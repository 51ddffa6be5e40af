from __future__ import annotations

import asyncio

from pyexec.core.job_context import JobOwner
from pyexec.core.queue import InProcessQueue


async def test_priority_then_fifo() -> None:
    queue = InProcessQueue()
    for job_id, priority in [("a", 1), ("b", 5), ("c", 10), ("d", 5), ("e", 10), ("f", 1)]:
        await queue.enqueue(job_id, priority)
    order = [await queue.get() for _ in range(6)]
    assert order == ["c", "e", "b", "d", "a", "f"]


async def test_duplicate_enqueue_is_ignored_while_queued() -> None:
    queue = InProcessQueue()
    await queue.enqueue("a", 5)
    await queue.enqueue("a", 5)
    assert queue.qsize() == 1
    assert await queue.get() == "a"
    await queue.enqueue("a", 5)  # a job re-queued after it was taken is queued again
    assert queue.qsize() == 1


async def test_get_waits_for_enqueue() -> None:
    queue = InProcessQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    assert not getter.done()
    await queue.enqueue("x", 3)
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_held_jobs_step_aside_and_come_back_in_their_place() -> None:
    queue = InProcessQueue()
    for job_id, priority in [("a1", 5), ("a2", 5), ("b1", 5), ("a3", 9)]:
        await queue.enqueue(job_id, priority)
    a3 = await queue.take()
    a1 = await queue.take()
    assert (a3.job_id, a1.job_id) == ("a3", "a1")
    queue.hold(a1, "account-a")  # e.g. account a already runs as many jobs as it may
    a2 = await queue.take()
    queue.hold(a2, "account-a")
    assert await queue.get() == "b1"  # another account's job is not blocked behind them
    assert queue.qsize() == 0 and queue.held() == 2
    await queue.enqueue("c1", 5)
    await queue.release("account-a")
    assert [await queue.get() for _ in range(3)] == ["a1", "a2", "c1"]
    await queue.release("account-a")  # nothing held: nothing happens
    assert queue.qsize() == 0 and queue.held() == 0


async def test_release_wakes_a_waiting_consumer() -> None:
    queue = InProcessQueue()
    await queue.enqueue("x", 5)
    queue.hold(await queue.take(), "g")
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    assert not getter.done()
    await queue.release("g")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_an_entry_keeps_its_owner_while_held() -> None:
    queue = InProcessQueue()
    await queue.enqueue("a", 5, owner=JobOwner("acc-1", "free"))
    await queue.enqueue("b", 5)
    queue.hold(await queue.take(), "acc-1")
    await queue.release("acc-1")
    a, b = await queue.take(), await queue.take()
    assert (a.job_id, a.context.owner) == ("a", JobOwner("acc-1", "free"))
    assert (b.job_id, b.context.owner) == ("b", None)  # e.g. re-queued by recovery: read then
