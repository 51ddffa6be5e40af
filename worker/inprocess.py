"""The embedded deployment's worker: consumers of the in-process queue, inside the API process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core import repository
from core.models import JobStatus
from core.queue import InProcessQueue
from core.runtime import Runtime
from worker.kernel_pool import make_pool
from worker.run import WorkerContext, run_job

log = logging.getLogger("pyexec.worker")

RESTART_MESSAGE = "interrupted: the service restarted while the job ran ({attempts} attempts)"


async def recover(runtime: Runtime) -> None:
    """Rebuild the queue from the database after a start, clean or not.

    A job left `running` by a crash runs again from the start, in a fresh kernel, while it has
    attempts left (`PYEXEC_JOB_MAX_ATTEMPTS`); after that it fails with a message saying why.
    """
    max_attempts = runtime.settings.job_max_attempts
    async with runtime.db.session() as session:
        for job in await repository.jobs_with_status(session, [JobStatus.running]):
            if job.attempts < max_attempts:
                log.warning("job %s was running when the service stopped; running it again", job.id)
                await repository.requeue_job(session, job.id)
            else:
                log.warning("job %s was interrupted %d times; failing it", job.id, job.attempts)
                await repository.finish_job(
                    session,
                    job.id,
                    JobStatus.failed,
                    error_message=RESTART_MESSAGE.format(attempts=job.attempts),
                )
        await session.commit()
        pending = await repository.jobs_with_status(session, [JobStatus.pending])
    for job in pending:
        await runtime.queue.enqueue(job.id, job.priority)
    if pending:
        log.info("re-queued %d pending job(s)", len(pending))


async def consume(ctx: WorkerContext, queue: InProcessQueue) -> None:
    while True:
        job_id = await queue.get()
        try:
            await run_job(ctx, job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: unexpected worker error", job_id)


@asynccontextmanager
async def embedded_worker(runtime: Runtime) -> AsyncIterator[None]:
    """Kernel pool + queue consumers, as a component of the embedded `pyexec serve`."""
    queue = runtime.queue
    if not isinstance(queue, InProcessQueue):
        raise TypeError("the embedded worker needs the in-process queue")
    pool = make_pool(runtime.settings)
    await pool.start()

    async def pool_ready() -> bool:
        return pool.ready

    def isolation() -> object:
        report = pool.launcher.isolation
        return report.as_dict() if report is not None else None

    runtime.readiness["kernel_pool"] = pool_ready
    runtime.details["isolation"] = isolation
    ctx = WorkerContext(runtime=runtime, pool=pool)
    consumers: list[asyncio.Task[None]] = []
    try:
        await recover(runtime)
        # One consumer per kernel that may be leased at once: the pool bounds concurrency.
        consumers = [
            asyncio.create_task(consume(ctx, queue), name=f"pyexec-consumer-{i}")
            for i in range(pool.max_leases)
        ]
        yield
    finally:
        for task in consumers:
            task.cancel()
        for task in consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await pool.close()
