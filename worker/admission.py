"""The plans' per-account running limit, held across every worker of the scaled deployment.

Each account has two sorted sets in Redis (`core.redis_keys.running_key`, `held_key`):

- *running*: the jobs that have a slot, each scored by the time (ms, Redis's clock) its entry
  expires. The lease keeper renews it with the job's lease (`worker.leases`), so a worker that
  dies frees its jobs' slots within one lease life.
- *held*: the jobs that were delivered while the account had no free slot, scored by their
  queue score (`core.redis_queue.queue_score`): highest priority first, then oldest. Their rows
  stay `pending`; their arq delivery ended.

Every change is one Lua script, atomic in Redis: a finish can never slip between another
worker's failed admission and its hold. `finish` hands the freed slots to the best held jobs
*and reserves them* (they enter running at once), and the caller queues them again: a job
submitted meanwhile cannot take the slot ahead of them, and the reconciler does not release
more of them while they travel through arq. A reservation that is never used (its worker
died before queueing it) expires like any other entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pyexec.core import repository
from pyexec.core.job_context import JobOwner
from pyexec.core.models import JobStatus
from pyexec.core.plans import plan_limits
from pyexec.core.redis_keys import held_key, running_key
from pyexec.core.redis_queue import QUEUED_JOB_TTL, RedisQueue
from pyexec.core.runtime import Runtime

log = logging.getLogger("pyexec.worker")

# An account's held set lives as long as a queued arq job (renewed by each hold): a job
# cancelled while held only leaves it when a slot frees, and an idle account's set goes away.
HELD_TTL_MS = int(QUEUED_JOB_TTL.total_seconds() * 1000)
# `RedisQueue.add` is refused while arq still holds the released job's previous delivery
# (the few ms between its failed admission and arq deleting its key): retry this often, then
# leave it to the reconciler.
REQUEUE_RETRY_SECONDS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4)

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: running, held; ARGV: job id, limit, queue score, entry life ms, held ttl ms.
# 1 if the job has a slot now (it had one already, or one was free), else 0 (it is held).
ADMIT_SCRIPT = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
if redis.call('ZSCORE', KEYS[1], ARGV[1])
   or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 0
"""
)

# KEYS: running, held; ARGV: job id ('' for none), limit, entry life ms. Frees the job's slot,
# then gives every free slot to the best held job, reserved for it; returns their ids.
FINISH_SCRIPT = (
    _NOW_MS
    + """
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if free <= 0 then return {} end
local popped = redis.call('ZPOPMIN', KEYS[2], free)
local ids = {}
for i = 1, #popped, 2 do
  ids[#ids + 1] = popped[i]
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), popped[i])
end
if #ids > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return ids
"""
)


@dataclass(frozen=True)
class Slot:
    """A job's place under its account's running limit."""

    account_id: str
    limit: int
    plan: str


class AccountSlots:
    def __init__(self, redis: Redis, lease_seconds: float) -> None:
        self.redis = redis
        self.life_ms = int(lease_seconds * 1000)
        self._admit = redis.register_script(ADMIT_SCRIPT)
        self._finish = redis.register_script(FINISH_SCRIPT)

    async def admit(self, account_id: str, job_id: str, limit: int, queue_score: int) -> bool:
        """True if the job may run now; False if it is held until a slot of its account frees."""
        admitted = await self._admit(
            keys=[running_key(account_id), held_key(account_id)],
            args=[job_id, limit, queue_score, self.life_ms, HELD_TTL_MS],
        )
        return bool(admitted)

    async def finish(self, account_id: str, job_id: str | None, limit: int) -> list[str]:
        """Free the job's slot (none: only look for free ones); the held jobs given a slot."""
        ids = await self._finish(
            keys=[running_key(account_id), held_key(account_id)],
            args=[job_id or "", limit, self.life_ms],
        )
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def held_among(self, jobs: Iterable[tuple[str, str]]) -> set[str]:
        """The ids among (account id, job id) pairs that are held."""
        pairs = list(jobs)
        if not pairs:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for account_id, job_id in pairs:
                pipe.zscore(held_key(account_id), job_id)
            scores = await pipe.execute()
        return {job_id for (_, job_id), s in zip(pairs, scores, strict=True) if s is not None}


async def account_limit(runtime: Runtime, job_id: str) -> Slot | None:
    """The account and running limit of the job's owner; None if the job is gone."""
    async with runtime.db.session() as session:
        owner = await repository.job_owner_plan(session, job_id)
    return slot_of(runtime, owner) if owner is not None else None


def slot_of(runtime: Runtime, owner: JobOwner) -> Slot:
    limit = plan_limits(runtime.settings, owner.plan).max_running_jobs
    return Slot(owner.account_id, limit, owner.plan)


async def queue_released(
    runtime: Runtime, queue: RedisQueue, slots: AccountSlots, slot: Slot, job_ids: Sequence[str]
) -> None:
    """Queue again the held jobs that `finish` gave a slot to, in their original place.

    A released job that is no longer waiting (cancelled or deleted while held) gives its
    reserved slot on to the next held job. Redis errors are logged: the reconciler releases
    and queues what is left.
    """
    todo = list(job_ids)
    try:
        while todo:
            async with runtime.db.session() as session:
                jobs = [(job_id, await repository.get_job(session, job_id)) for job_id in todo]
            todo = []
            for job_id, job in jobs:
                if job is None or JobStatus(job.status).is_final:
                    todo += await slots.finish(slot.account_id, job_id, slot.limit)
                elif job.status == JobStatus.pending.value:
                    await _queue_again(queue, job_id, job.priority, job.created_at)
                # `running`: another delivery runs it and owns the entry; leave both alone.
    except (RedisError, OSError) as exc:
        log.warning(
            "could not queue released jobs of account %s (%s); the reconciler will",
            slot.account_id,
            exc,
        )


async def _queue_again(queue: RedisQueue, job_id: str, priority: int, created_at: datetime) -> None:
    for delay in (0.0, *REQUEUE_RETRY_SECONDS):
        await asyncio.sleep(delay)
        if await queue.add(job_id, priority, created_at):
            log.debug("job %s has a slot of its account now; queued again", job_id)
            return
    log.info("job %s: arq still holds its previous delivery; the reconciler queues it", job_id)
