"""A worker's hold on the jobs it runs: Redis keys with a short life, renewed while it lives.

`acquire` (SET NX) makes one worker the runner of a job; the runner renews its leases every
third of their life, together with arq's in-progress key for the job, whose life PyExec shortens
to the same length. A worker that dies (SIGKILL, a lost machine) stops renewing: within one
lease the job is free again, arq hands it to another worker, and the reconciler can tell that
the job's `running` row has no live runner. A job's entry in its account's running set
(`worker.admission`) is renewed with its lease, so the dead worker's slots free as quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pyexec.core.redis_keys import arq_in_progress_key, lease_key, running_key, worker_key

log = logging.getLogger("pyexec.worker")

# KEYS: the lease, arq's in-progress key[, the account's running set, this worker's key];
# ARGV: worker id, life in ms, job id. Renews a lease that is this worker's, or re-creates one
# that vanished (Redis restarted empty); 0 if another worker holds it now. The job's running
# entry is renewed too, but re-created only when the worker's own key vanished as well (Redis
# restarted): a renewal that races the job's finish must not bring its freed slot back.
RENEW_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if KEYS[3] then
  local t = redis.call('TIME')
  local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
  if redis.call('EXISTS', KEYS[4]) == 1 then
    redis.call('ZADD', KEYS[3], 'XX', expiry, ARGV[3])
  else
    redis.call('ZADD', KEYS[3], expiry, ARGV[3])
  end
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return 1
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


class Leases:
    def __init__(self, redis: Redis, worker_id: str, seconds: float) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self.ttl_ms = int(seconds * 1000)
        self.held: set[str] = set()
        # job id → its account's running set, for the jobs admitted under a running limit
        self.slots: dict[str, str] = {}
        self._renew = redis.register_script(RENEW_SCRIPT)
        self._release = redis.register_script(RELEASE_SCRIPT)

    @property
    def renew_every(self) -> float:
        return self.ttl_ms / 3000

    async def acquire(self, job_id: str) -> bool:
        """True if this worker is now the job's runner; False if another live worker is."""
        acquired = await self.redis.set(lease_key(job_id), self.worker_id, nx=True, px=self.ttl_ms)
        if acquired:
            self.held.add(job_id)
        return bool(acquired)

    def renew_slot(self, job_id: str, account_id: str) -> None:
        """Renew the job's entry in its account's running set with its lease from now on."""
        self.slots[job_id] = running_key(account_id)

    def forget_slot(self, job_id: str) -> None:
        """Stop renewing the job's running entry (before its slot is freed)."""
        self.slots.pop(job_id, None)

    async def release(self, job_id: str) -> None:
        self.held.discard(job_id)
        self.slots.pop(job_id, None)
        with contextlib.suppress(RedisError, OSError):
            await self._release(keys=[lease_key(job_id)], args=[self.worker_id])

    async def alive(self, job_ids: Iterable[str]) -> set[str]:
        """The ids among `job_ids` that some worker holds a lease on."""
        ids = list(job_ids)
        if not ids:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.exists(lease_key(job_id))
            found = await pipe.execute()
        return {job_id for job_id, n in zip(ids, found, strict=True) if n}

    async def renew_all(self) -> None:
        for job_id in list(self.held):
            keys = [lease_key(job_id), arq_in_progress_key(job_id)]
            if job_id in self.slots:
                keys += [self.slots[job_id], worker_key(self.worker_id)]
            kept = await self._renew(keys=keys, args=[self.worker_id, self.ttl_ms, job_id])
            if not kept and job_id in self.held:
                # Only after this worker stalled for longer than a lease: the job was given
                # to another worker, which re-runs it; this run's result may still land first.
                log.error("lost the lease of job %s to another worker", job_id)
        await self.redis.set(worker_key(self.worker_id), str(len(self.held)), px=self.ttl_ms)

    async def keep(self) -> None:
        """Renew this worker's leases until cancelled; a Redis outage is waited out."""
        failing = False
        while True:
            try:
                await self.renew_all()
                if failing:
                    log.warning("job leases renewed again")
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning("could not renew job leases (%s); retrying", exc)
                failing = True
            await asyncio.sleep(self.renew_every)
