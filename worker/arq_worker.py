"""The scaled-out worker: arq takes jobs from Redis and runs `run_job` with this process's pool.

One worker process holds a kernel pool and runs as many jobs at once as the pool lends kernels
(`PYEXEC_KERNEL_POOL_SIZE`). Beside arq's loop it runs the lease keeper (see `worker.leases`)
and the reconciler (see `worker.reconcile`). The same component runs inside `pyexec serve`
when `REDIS_URL` is set.

A delivery of a job is handled by `ScaledWorker.run`: take the job's lease (else another live
worker runs it: skip), then look at the row. `pending` → run it if its account has a free slot
under its plan's running limit (see `worker.admission`), else hold it there (the delivery ends;
the job is queued again when a slot frees). `running` with no lease for a whole lease's life →
its worker died: recover it (re-run while attempts are left, else fail it), then as `pending`.
Final → nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from arq import Retry, Worker
from arq.worker import func
from redis.exceptions import RedisError

from pyexec.core import repository
from pyexec.core.job_context import JobContext, JobOwner
from pyexec.core.models import Job, JobStatus
from pyexec.core.plans import plan_table
from pyexec.core.redis_client import connect
from pyexec.core.redis_keys import QUEUE, RUN_JOB_TASK, arq_in_progress_key
from pyexec.core.redis_queue import RedisQueue, queue_score
from pyexec.core.runtime import Runtime
from pyexec.core.settings import Settings
from pyexec.worker.admission import AccountSlots, Slot, account_limit, queue_released, slot_of
from pyexec.worker.agent.factory import open_model
from pyexec.worker.agent.model import Model
from pyexec.worker.arq_loop import listen_for_wake, poll_forever
from pyexec.worker.files import StoredInputs
from pyexec.worker.kernel_pool import make_pool
from pyexec.worker.leases import Leases, new_worker_id
from pyexec.worker.reconcile import Reconciler, recover_orphan
from pyexec.worker.run import WorkerContext, run_job
from pyexec.worker.webhooks import sending_webhooks

log = logging.getLogger("pyexec.worker")

CTX_KEY = "pyexec"
# run_job enforces each job's own budget; arq's timeout only backs it up.
ARQ_TIMEOUT_MARGIN_SECONDS = 120
# PyExec bounds re-runs itself (PYEXEC_JOB_MAX_ATTEMPTS, on the row); arq must never give up
# on a job first, or the row would stay behind.
ARQ_MAX_TRIES = 1_000_000
LEASE_UNAVAILABLE_RETRY_SECONDS = 1
SHUTDOWN_SECONDS = 30.0


@dataclass
class ScaledWorker:
    ctx: WorkerContext
    queue: RedisQueue
    leases: Leases
    slots: AccountSlots

    @property
    def runtime(self) -> Runtime:
        return self.ctx.runtime

    async def run(self, job_id: str, carried: JobContext | None = None) -> None:
        if not await self._lease(job_id):
            log.debug("job %s is held by another worker; skipping this delivery", job_id)
            return
        try:
            job = await self._load(job_id)
            if job is not None and job.status == JobStatus.running.value:
                # No lease, yet `running`: its worker died, or Redis lost the lease (a restart)
                # and the live worker re-creates it within a third of its life. Only a lease
                # that stays away for a whole life means the worker is gone.
                await self.leases.release(job_id)
                await self._keep_delivery(job_id, 2 * self.leases.ttl_ms)
                await asyncio.sleep(self.leases.ttl_ms / 1000)
                if not await self._lease(job_id):
                    return
                job = await self._load(job_id)
                if (
                    job is not None
                    and job.status == JobStatus.running.value
                    and not await recover_orphan(self.runtime, job)
                ):
                    return
            if job is None or JobStatus(job.status).is_final:
                return
            # While no kernel can start, the job stays pending instead of spending its time
            # budget waiting for one (arq's timeout hands it back for a later delivery).
            await self.ctx.pool.wait_usable()
            slot = await self._admit(job, carried.owner if carried else None)
            if slot is None:
                return
            try:
                with (carried or JobContext()).entered(job_id):
                    await run_job(self.ctx, job_id, slot.plan)
            finally:
                await self._free(slot, job_id)
        finally:
            await self.leases.release(job_id)

    async def _admit(self, job: Job, owner: JobOwner | None) -> Slot | None:
        """The job's slot under its account's running limit; None if it must wait (held).
        `owner`: as the API queued the job, if it said (else read from the database)."""
        if owner is not None and owner.account_id == job.account_id:
            slot: Slot | None = slot_of(self.runtime, owner)
        else:
            slot = await account_limit(self.runtime, job.id)
        if slot is None:
            return None  # deleted meanwhile
        score = queue_score(job.priority, job.created_at)
        try:
            admitted = await self.slots.admit(slot.account_id, job.id, slot.limit, score)
        except (RedisError, OSError) as exc:
            raise Retry(defer=LEASE_UNAVAILABLE_RETRY_SECONDS) from exc
        if not admitted:
            log.debug("job %s waits for a free slot of account %s", job.id, slot.account_id)
            return None
        self.leases.renew_slot(job.id, slot.account_id)
        return slot

    async def _free(self, slot: Slot, job_id: str) -> None:
        """Give the job's slot to its account's best held job, and queue that one again."""
        self.leases.forget_slot(job_id)  # first: no renewal may bring the entry back
        try:
            released = await self.slots.finish(slot.account_id, job_id, slot.limit)
        except (RedisError, OSError) as exc:
            # The entry expires within a lease; the reconciler then releases the held jobs.
            log.warning("could not free the slot of job %s (%s)", job_id, exc)
            return
        if released:
            await queue_released(self.runtime, self.queue, self.slots, slot, released)

    async def _lease(self, job_id: str) -> bool:
        try:
            return await self.leases.acquire(job_id)
        except (RedisError, OSError) as exc:
            raise Retry(defer=LEASE_UNAVAILABLE_RETRY_SECONDS) from exc

    async def _keep_delivery(self, job_id: str, ms: int) -> None:
        # Nothing renews arq's in-progress key while this delivery holds no lease: past its
        # life, arq would hand the job to this very worker again, beside this delivery.
        with contextlib.suppress(RedisError, OSError):
            await self.queue.redis.pexpire(arq_in_progress_key(job_id), ms)

    async def _load(self, job_id: str) -> Job | None:
        async with self.runtime.db.session() as session:
            return await repository.get_job(session, job_id)


async def run_job_task(
    ctx: dict[str, Any], job_id: str, context: dict[str, Any] | None = None
) -> None:
    """The arq task: ctx holds the process's `ScaledWorker`; `context`, the `JobContext` the
    job was queued with (absent from jobs queued by an older version)."""
    worker: ScaledWorker = ctx[CTX_KEY]
    await worker.run(job_id, JobContext.from_dict(context))


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    slots: int


@asynccontextmanager
async def arq_worker(runtime: Runtime) -> AsyncIterator[WorkerInfo]:
    """Kernel pool, arq loop, lease keeper and reconciler, for as long as the block runs."""
    # The analyst's model (an LLM client or the offline planner) lives as long as the worker.
    async with (
        open_model(runtime.settings) as model,
        _arq_worker(runtime, model) as info,
        sending_webhooks(runtime),
    ):
        yield info


@asynccontextmanager
async def _arq_worker(runtime: Runtime, model: Model) -> AsyncIterator[WorkerInfo]:
    queue = runtime.queue
    settings = runtime.settings
    if not isinstance(queue, RedisQueue) or not settings.redis_url:
        raise TypeError("the arq worker needs the scaled-out runtime (REDIS_URL)")
    pool = make_pool(settings)
    await pool.start()

    async def pool_ready() -> bool:
        return pool.ready

    def isolation() -> object:
        report = pool.launcher.isolation
        return report.as_dict() if report is not None else None

    runtime.readiness["kernel_pool"] = pool_ready
    runtime.diagnoses["kernel_pool"] = lambda: pool.health.as_dict()
    runtime.details["isolation"] = isolation
    leases = Leases(queue.redis, new_worker_id(), settings.worker_lease_seconds)
    slots = AccountSlots(queue.redis, settings.worker_lease_seconds)
    scaled = ScaledWorker(
        WorkerContext(runtime=runtime, pool=pool, inputs=StoredInputs(runtime), model=model),
        queue,
        leases,
        slots,
    )
    worker = Worker(
        functions=[
            func(
                run_job_task,
                name=RUN_JOB_TASK,
                timeout=_longest_job(settings) + ARQ_TIMEOUT_MARGIN_SECONDS,
                keep_result=0,
                max_tries=ARQ_MAX_TRIES,
            )
        ],
        queue_name=QUEUE,
        # Retries forever: a Redis restart pauses the loop instead of ending it.
        redis_pool=connect(settings.redis_url, patient=True),
        max_jobs=pool.max_leases,
        poll_delay=settings.worker_poll_delay,
        keep_result=0,
        max_tries=ARQ_MAX_TRIES,
        handle_signals=False,
        ctx={CTX_KEY: scaled},
        health_check_interval=60,
    )
    # A job's in-progress key lives as long as a lease, and the lease keeper renews both:
    # arq hands the job of a dead worker to another within one lease instead of after
    # the job's whole timeout.
    worker.in_progress_timeout_s = settings.worker_lease_seconds
    wake = asyncio.Event()
    loop_task = asyncio.create_task(
        poll_forever(worker, wake, settings.worker_poll_delay), name="pyexec-arq-loop"
    )
    background = [
        asyncio.create_task(listen_for_wake(queue.redis, wake), name="pyexec-queue-wake"),
        asyncio.create_task(leases.keep(), name="pyexec-leases"),
        asyncio.create_task(
            Reconciler(runtime, queue, leases, slots).run(), name="pyexec-reconciler"
        ),
    ]

    async def drain() -> None:
        # Stop taking jobs at once; the running ones get the grace (leases still renewed).
        worker.allow_pick_jobs = False
        await _cancel(loop_task)
        left = await runtime.drain.within_grace(list(worker.tasks.values()))
        # Cancelled, run_job hands each job back (pending, attempt refunded) and arq leaves
        # it queued for another worker.
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    runtime.drain.on_drain("arq worker", drain)
    try:
        yield WorkerInfo(worker_id=leases.worker_id, slots=pool.max_leases)
    finally:
        # Stop taking jobs first, then cancel the running ones: run_job hands each back
        # (pending, attempt refunded) and arq leaves it queued for another worker.
        worker.allow_pick_jobs = False
        await _cancel(loop_task)
        try:
            await asyncio.wait_for(worker.close(), SHUTDOWN_SECONDS)
        except TimeoutError:
            log.error("arq worker did not stop within %.0f s", SHUTDOWN_SECONDS)
        for task in background:
            await _cancel(task)
        await pool.close()


def _longest_job(settings: Settings) -> int:
    return max(limits.max_job_timeout for limits in plan_table(settings))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
