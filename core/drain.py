"""A process's orderly stop (SIGTERM, SIGINT): the drain.

When the drain starts, the process stops taking new work and `/readyz` answers 503 with the
reason `draining` at once; what it holds (running jobs, `?wait=` requests) gets the grace
(`PYEXEC_SHUTDOWN_GRACE_SECONDS`) to end. Each part of the process that holds work adds a
step (`on_drain`): a coroutine that stops its intake, waits for its work or for `grace_over`,
and hands back what is left (a job goes back to the queue, no attempt used). The drain is over
when every step has returned; the process then stops its servers and exits 0.

A second signal ends the grace at once (`end_grace`): what still runs is handed back now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger("pyexec.drain")

DRAINING = "draining"

DrainStep = Callable[[], Awaitable[None]]


class Drain:
    def __init__(self) -> None:
        self._started = asyncio.Event()
        self._grace_over = asyncio.Event()
        self._finished = asyncio.Event()
        self._steps: list[tuple[str, DrainStep]] = []

    @property
    def started(self) -> bool:
        return self._started.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def on_drain(self, name: str, step: DrainStep) -> None:
        """Run `step` when the drain starts; the drain ends when every step has returned."""
        self._steps.append((name, step))

    async def wait_started(self) -> None:
        await self._started.wait()

    async def wait_grace_over(self) -> None:
        """Return when the grace has passed (or was ended): hand back what still runs."""
        await self._grace_over.wait()

    async def wait_finished(self) -> None:
        await self._finished.wait()

    async def within_grace(
        self, running: Iterable[asyncio.Future[Any]], what: str = "running job(s)"
    ) -> set[asyncio.Future[Any]]:
        """Wait until every one of `running` is done or the grace is over; the ones not done
        (for the caller to cancel and hand back)."""
        waiting = {task for task in running if not task.done()}
        if not waiting:
            return waiting
        log.info("draining: waiting for %d %s", len(waiting), what)
        grace = asyncio.ensure_future(self._grace_over.wait())
        try:
            while waiting and not grace.done():
                done, _ = await asyncio.wait([*waiting, grace], return_when=asyncio.FIRST_COMPLETED)
                waiting -= done
        finally:
            grace.cancel()
        if waiting:
            log.warning("draining: the grace is over; %d %s left", len(waiting), what)
        return waiting

    def end_grace(self) -> None:
        self._grace_over.set()

    async def run(self, grace_seconds: float) -> None:
        """Start the drain and return when it is over; a second call waits for the first."""
        if self.started:
            await self._finished.wait()
            return
        self._started.set()
        log.info(
            "draining: no new work is started; running work gets %g s to finish", grace_seconds
        )
        timer = asyncio.get_running_loop().call_later(grace_seconds, self._grace_over.set)
        try:
            results = await asyncio.gather(
                *(step() for _, step in self._steps), return_exceptions=True
            )
            for (name, _), result in zip(self._steps, results, strict=True):
                if isinstance(result, BaseException):
                    log.error("drain step %s failed: %r", name, result, exc_info=result)
        finally:
            timer.cancel()
            self._grace_over.set()
            self._finished.set()
        log.info("drained")
