"""core.drain: steps run when the drain starts; the grace ends on its timer or a second signal."""

from __future__ import annotations

import asyncio

from pyexec.core.drain import Drain


async def test_a_step_that_ends_within_the_grace_ends_the_drain() -> None:
    drain = Drain()
    job = asyncio.ensure_future(asyncio.sleep(0.05))
    left: list[set[asyncio.Future[object]]] = []

    async def step() -> None:
        left.append(await drain.within_grace([job]))

    drain.on_drain("jobs", step)
    assert not drain.started
    await asyncio.wait_for(drain.run(grace_seconds=600), 60)
    assert drain.started and drain.finished
    assert left == [set()] and job.done()


async def test_what_outlives_the_grace_is_returned_for_handing_back() -> None:
    drain = Drain()
    stuck = asyncio.ensure_future(asyncio.Event().wait())
    left: list[set[asyncio.Future[object]]] = []

    async def step() -> None:
        left.append(await drain.within_grace([stuck]))

    drain.on_drain("jobs", step)
    await asyncio.wait_for(drain.run(grace_seconds=0), 60)
    assert left == [{stuck}] and not stuck.done()
    stuck.cancel()


async def test_ending_the_grace_hands_back_at_once() -> None:
    drain = Drain()
    stuck = asyncio.ensure_future(asyncio.Event().wait())

    async def step() -> None:
        await drain.within_grace([stuck])

    drain.on_drain("jobs", step)
    running = asyncio.ensure_future(drain.run(grace_seconds=600))
    await drain.wait_started()
    drain.end_grace()
    await asyncio.wait_for(running, 60)
    assert drain.finished and not stuck.done()
    stuck.cancel()


async def test_a_failing_step_does_not_stop_the_others() -> None:
    drain = Drain()
    ran: list[str] = []

    async def broken() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        ran.append("fine")

    drain.on_drain("broken", broken)
    drain.on_drain("fine", fine)
    await asyncio.wait_for(drain.run(grace_seconds=600), 60)
    assert ran == ["fine"] and drain.finished
