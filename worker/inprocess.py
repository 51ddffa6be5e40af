"""The embedded deployment's worker: consumers of the in-process queue, inside the API process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pyexec.core import metrics, repository
from pyexec.core.clock import utcnow
from pyexec.core.job_context import JobOwner
from pyexec.core.models import Job, JobStatus
from pyexec.core.plans import plan_limits
from pyexec.core.queue import InProcessQueue
from pyexec.core.runtime import Runtime
from pyexec.worker.agent import Model, open_model
from pyexec.worker.files import StoredInputs
from pyexec.worker.kernel_pool import make_pool
from pyexec.worker.run import WorkerContext, run_job
from pyexec.worker.webhooks import sending_webhooks

log = logging.getLogger("pyexec.worker")

RESTART_MESSAGE = "interrupted: the service restarted while the job ran ({attempts} attempts)"


async def recover(runtime: Runtime) -> None:
    """Rebuild the queue from the database after a start, clean or not.

    A job left `running` by a crash runs again from the start, in a fresh kernel, while it has
    attempts left (`PYEXEC_JOB_MAX_ATTEMPTS`); after that it fails with a message saying why.
    """
    max_attempts = runtime.settings.job_max_attempts
    failed: list[Job] = []
    async with runtime.db.session() as session:
        for job in await repository.jobs_with_status(session, [JobStatus.running]):
            if job.attempts < max_attempts:
                log.warning("job %s was running when the service stopped; running it again", job.id)
                await repository.requeue_job(session, job.id)
            else:
                log.warning("job %s was interrupted %d times; failing it", job.id, job.attempts)
                failed.append(job)
                await repository.finish_job(
                    session,
                    job.id,
                    JobStatus.failed,
                    error_message=RESTART_MESSAGE.format(attempts=job.attempts),
                )
        await session.commit()
        for job in failed:
            if owner := await repository.job_owner_plan(session, job.id):
                metrics.job_finished(owner[1], JobStatus.failed.value, job.started_at, utcnow())
        pending = await repository.jobs_with_status(session, [JobStatus.pending])
    for job in pending:
        await runtime.queue.enqueue(job.id, job.priority)
    if pending:
        log.info("re-queued %d pending job(s)", len(pending))


class RunningJobs:
    """Jobs running per account in this process (the embedded deployment has one)."""

    def __init__(self) -> None:
        self._running: Counter[str] = Counter()

    def try_start(self, account_id: str, limit: int) -> bool:
        if self._running[account_id] >= limit:
            return False
        self._running[account_id] += 1
        return True

    def finish(self, account_id: str) -> None:
        self._running[account_id] -= 1
        if self._running[account_id] <= 0:
            del self._running[account_id]


async def consume(
    ctx: WorkerContext, queue: InProcessQueue, running: RunningJobs, busy: set[asyncio.Task[None]]
) -> None:
    """Take jobs until the process drains; `busy` holds this task while it runs one."""
    runtime = ctx.runtime
    me = asyncio.current_task()
    assert me is not None
    while not runtime.drain.started:
        entry = await queue.take()
        # While no kernel can start, the job stays pending (in the queue and the database)
        # instead of being claimed and spending its time budget waiting for one.
        await ctx.pool.wait_usable()
        try:
            owner = entry.context.owner or await _read_owner(runtime, entry.job_id)
            if owner is None:
                continue  # deleted while queued (a carried owner: the claim finds it gone)
            account_id, plan = owner
            limit = plan_limits(runtime.settings, plan).max_running_jobs
            # No await between the check and hold(): a finishing job's release cannot slip in.
            if not running.try_start(account_id, limit):
                # Over the plan's running limit: it waits, and other accounts' jobs go past it.
                queue.hold(entry, account_id)
                continue
            try:
                if runtime.drain.started:
                    # Taken as the drain began: it stays pending in the database, and the
                    # next start of the service queues it again.
                    return
                busy.add(me)
                with entry.context.entered(entry.job_id):
                    await run_job(ctx, entry.job_id, plan)
            finally:
                busy.discard(me)
                running.finish(account_id)
                await queue.release(account_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: unexpected worker error", entry.job_id)


async def _read_owner(runtime: Runtime, job_id: str) -> JobOwner | None:
    """For a job queued without its owner (re-queued by recovery)."""
    async with runtime.db.session() as session:
        return await repository.job_owner_plan(session, job_id)


@asynccontextmanager
async def embedded_worker(runtime: Runtime) -> AsyncIterator[None]:
    """Kernel pool + queue consumers, as a component of the embedded `pyexec serve`."""
    # The analyst's model (an LLM client or the offline planner) lives as long as the worker.
    async with (
        open_model(runtime.settings) as model,
        _embedded_worker(runtime, model),
        sending_webhooks(runtime),
    ):
        yield


@asynccontextmanager
async def _embedded_worker(runtime: Runtime, model: Model) -> AsyncIterator[None]:
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
    runtime.diagnoses["kernel_pool"] = lambda: pool.health.as_dict()
    runtime.details["isolation"] = isolation
    ctx = WorkerContext(runtime=runtime, pool=pool, inputs=StoredInputs(runtime), model=model)
    consumers: list[asyncio.Task[None]] = []
    busy: set[asyncio.Task[None]] = set()
    running = RunningJobs()

    async def drain() -> None:
        await drain_consumers(runtime, consumers, busy)

    try:
        await recover(runtime)
        # One consumer per kernel that may be leased at once: the pool bounds concurrency.
        consumers = [
            asyncio.create_task(consume(ctx, queue, running, busy), name=f"pyexec-consumer-{i}")
            for i in range(pool.max_leases)
        ]
        runtime.drain.on_drain("embedded worker", drain)
        yield
    finally:
        for task in consumers:
            task.cancel()
        for task in consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await pool.close()


async def drain_consumers(
    runtime: Runtime, consumers: list[asyncio.Task[None]], busy: set[asyncio.Task[None]]
) -> None:
    """The drain's step for the in-process worker: idle consumers stop at once; the jobs that
    run get the grace, then are cancelled, which hands each back (`run_job`: pending again,
    its attempt refunded) for the next start of the service. Jobs submitted meanwhile stay
    queued in the database."""
    for task in consumers:
        if task not in busy:
            task.cancel()
    await runtime.drain.within_grace([task for task in consumers if task in busy])
    for task in consumers:
        task.cancel()
    for task in consumers:
        with contextlib.suppress(asyncio.CancelledError):
            await task
