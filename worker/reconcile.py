"""Keeping Redis true to the database in the scaled-out deployment.

The database is the source of truth; Redis can lose what it holds (a restart without
persistence, a flush) and workers can die mid-job. Every worker runs a `Reconciler` that,
every `PYEXEC_RECONCILE_INTERVAL` seconds:

- queues each `pending` job that arq does not hold (lost from Redis, or submitted while Redis
  was down), in its original place among its priority — unless it is held, waiting for a slot
  of its account (`worker.admission`);
- for each account with held jobs, hands the slots that are free (a worker died and its
  entries expired, a job ran out of attempts) to its best held jobs and queues them, as the
  finish of a job does;
- finds each `running` job that no worker holds a lease on for a whole lease's life (its
  worker died) and recovers it: back to `pending` and queued while it has attempts left
  (`PYEXEC_JOB_MAX_ATTEMPTS`), `failed` with a message after that.

All of it is idempotent, so any number of workers may reconcile at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from redis.exceptions import RedisError

from pyexec.core import metrics, repository
from pyexec.core.clock import utcnow
from pyexec.core.event_types import StatusChanged
from pyexec.core.models import Job, JobStatus
from pyexec.core.redis_queue import RedisQueue
from pyexec.core.runtime import Runtime
from pyexec.worker.admission import AccountSlots, account_limit, queue_released
from pyexec.worker.leases import Leases

log = logging.getLogger("pyexec.worker")

ORPHAN_MESSAGE = "interrupted: the worker running it stopped ({attempts} attempts)"


async def recover_orphan(runtime: Runtime, job: Job) -> bool:
    """A `running` job without a live worker: True if it is `pending` again (to be run).

    False if it ran out of attempts (it is now `failed`) or someone else recovered it first.
    """
    attempts = job.attempts
    async with runtime.db.session() as session:
        if attempts < runtime.settings.job_max_attempts:
            status = JobStatus.pending
            changed = await repository.requeue_orphan(session, job.id, attempts)
        else:
            status = JobStatus.failed
            message = ORPHAN_MESSAGE.format(attempts=attempts)
            changed = await repository.fail_orphan(session, job.id, attempts, message)
        failed = changed and status is JobStatus.failed
        owner = await repository.job_owner_plan(session, job.id) if failed else None
        await session.commit()
    if owner is not None:
        metrics.job_finished(owner[1], status.value, job.started_at, utcnow())
    if not changed:
        return False
    if status is JobStatus.pending:
        log.warning("job %s lost its worker; running it again (attempt %d)", job.id, attempts + 1)
    else:
        log.warning("job %s lost its worker %d times; failing it", job.id, attempts)
    await runtime.events.publish(job.id, StatusChanged(status=status.value))
    return status is JobStatus.pending


class Reconciler:
    def __init__(
        self, runtime: Runtime, queue: RedisQueue, leases: Leases, slots: AccountSlots
    ) -> None:
        self.runtime = runtime
        self.queue = queue
        self.leases = leases
        self.slots = slots
        self.interval = runtime.settings.reconcile_interval
        self.lease_seconds = runtime.settings.worker_lease_seconds
        # job id → when its `running` row was first seen without a lease
        self._unleased_since: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except (RedisError, OSError) as exc:
                log.info("reconciler: Redis unreachable (%s); next pass later", exc)
            except Exception:
                log.exception("reconciler pass failed")
            # Jitter, so that workers started together do not reconcile in lockstep.
            await asyncio.sleep(self.interval * random.uniform(0.8, 1.2))

    async def reconcile(self) -> None:
        async with self.runtime.db.session() as session:
            jobs = await repository.jobs_with_status(
                session, [JobStatus.pending, JobStatus.running]
            )
        pending = [j for j in jobs if j.status == JobStatus.pending.value]
        running = [j for j in jobs if j.status == JobStatus.running.value]
        held = await self.slots.held_among((j.account_id, j.id) for j in pending)
        missing = set(await self.queue.missing([j.id for j in pending])) - held
        for job in pending:  # in (priority, submission) order
            if job.id in missing and await self.queue.add(job.id, job.priority, job.created_at):
                log.info("reconciler: queued pending job %s that Redis did not hold", job.id)
        await self._release_held([j for j in pending if j.id in held])
        await self._recover_orphans(running)

    async def _release_held(self, held: list[Job]) -> None:
        first_of_account: dict[str, str] = {}
        for job in held:
            first_of_account.setdefault(job.account_id, job.id)
        for job_id in first_of_account.values():
            slot = await account_limit(self.runtime, job_id)
            if slot is None:
                continue
            released = await self.slots.finish(slot.account_id, None, slot.limit)
            if released:
                log.info("reconciler: free slots of account %s go to %s", slot.account_id, released)
                await queue_released(self.runtime, self.queue, self.slots, slot, released)

    async def _recover_orphans(self, running: list[Job]) -> None:
        alive = await self.leases.alive(j.id for j in running)
        now = time.monotonic()
        seen = set()
        for job in running:
            seen.add(job.id)
            if job.id in alive:
                self._unleased_since.pop(job.id, None)
                continue
            # A live worker re-creates a lease lost with Redis within a third of its life:
            # only a lease missing for a whole life means the worker is gone.
            first = self._unleased_since.setdefault(job.id, now)
            if now - first < self.lease_seconds:
                continue
            del self._unleased_since[job.id]
            if await recover_orphan(self.runtime, job):
                await self.queue.add(job.id, job.priority, job.created_at)
        for job_id in set(self._unleased_since) - seen:
            del self._unleased_since[job_id]
