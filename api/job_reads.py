"""Reading an account's job: once (404 if it is not theirs), or held until it is final."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pyexec.api.errors import NotFound
from pyexec.core import repository
from pyexec.core.events import Event, is_final_status_event
from pyexec.core.models import Job, JobStatus
from pyexec.core.runtime import Runtime

# How often a held request looks at the database without an event telling it to.
RECHECK_SECONDS = 15.0


async def load_job(runtime: Runtime, job_id: str, account_id: str) -> Job:
    async with runtime.db.session() as session:
        job = await repository.get_job(session, job_id, account_id)
    if job is None:
        raise NotFound(f"No such job: {job_id}")
    return job


async def wait_for_final(runtime: Runtime, job: Job, seconds: float) -> Job:
    """Hold until the job is final or `seconds` pass.

    Event-driven: whoever sets a final status publishes it, and the database is read again
    only then, and every RECHECK_SECONDS in case an event was lost (Redis restarted).
    """
    if seconds <= 0 or JobStatus(job.status).is_final:
        return job
    async with runtime.events.subscribe(job.id) as inbox:
        # Read after subscribing, so that a change in between is not missed.
        job = await load_job(runtime, job.id, job.account_id)
        return await _hold(runtime, job, inbox, seconds)


@contextlib.asynccontextmanager
async def load_and_listen(
    runtime: Runtime, job_id: str, account_id: str
) -> AsyncIterator[tuple[Job, asyncio.Queue[Event]]]:
    """The account's job (404 if it is not theirs), read once, after subscribing to its events:
    one read where `load_job` then `wait_for_final` take two. Hold with `hold_until_final`."""
    async with runtime.events.subscribe(job_id) as inbox:
        yield await load_job(runtime, job_id, account_id), inbox


async def hold_until_final(
    runtime: Runtime, job: Job, inbox: asyncio.Queue[Event], seconds: float
) -> Job:
    """`wait_for_final` for a job read inside `load_and_listen`."""
    if seconds <= 0 or JobStatus(job.status).is_final:
        return job
    return await _hold(runtime, job, inbox, seconds)


async def _hold(runtime: Runtime, job: Job, inbox: asyncio.Queue[Event], seconds: float) -> Job:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not JobStatus(job.status).is_final and not runtime.drain.finished:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(RECHECK_SECONDS, remaining)):
                await _final_or_drained(runtime, inbox)
        # Ended by this process's worker: the row it committed, not read back.
        job = runtime.finished_jobs.get(job.id) or await load_job(runtime, job.id, job.account_id)
    return job


async def _final_or_drained(runtime: Runtime, inbox: asyncio.Queue[Event]) -> None:
    """Until the job's final status is published, or this process's drain is over (it is
    stopping: the wait is answered with the job as it is, and the client asks again)."""

    async def final() -> None:
        while not is_final_status_event(await inbox.get()):
            pass

    waiters = [asyncio.ensure_future(final()), asyncio.ensure_future(runtime.drain.wait_finished())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
