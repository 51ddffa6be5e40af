from __future__ import annotations

import asyncio

from core.queue import InProcessQueue


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
