"""`Idempotency-Key` on `POST /v1/jobs`: a retry with the same key and body gets the first job.

A key is kept 24 h per account. The first request stores the key with its job in the job's own
transaction; a unique constraint on (account, key) settles two concurrent requests with the
same key, and the loser answers with the winner's job.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from pyexec.api.errors import Conflict
from pyexec.api.schemas import JobCreate, as_utc
from pyexec.core import repository
from pyexec.core.models import IdempotencyKey, Job
from pyexec.core.runtime import Runtime

HEADER = "Idempotency-Key"
KEPT_FOR = timedelta(hours=24)


def fingerprint(body: JobCreate) -> str:
    """The body as the job sees it (defaults filled in), so equivalent retries compare equal."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def earlier_job(runtime: Runtime, account_id: str, key: str, request_hash: str) -> Job | None:
    """The job this key created in the last 24 h; None if the key is unused (or expired).

    Raises Conflict when the key was used with a different body.
    """
    cutoff = runtime.clock.now() - KEPT_FOR
    async with runtime.db.session() as session:
        record = await repository.find_idempotency_key(session, account_id, key)
        if record is None or as_utc(record.created_at) <= cutoff:
            return None
        if record.request_hash != request_hash:
            raise Conflict(
                f"{HEADER} '{key}' was already used with a different request body; "
                "use a new key for a different job."
            )
        job = await repository.get_job(session, record.job_id, account_id)
    if job is None:
        raise Conflict(f"The job created with {HEADER} '{key}' was deleted; use a new key.")
    return job


async def create_once(runtime: Runtime, job: Job, key: str, request_hash: str) -> tuple[Job, bool]:
    """Store the job with its key; (job, True) if created, (the earlier job, False) if a
    concurrent request with the same key created one first."""
    now = runtime.clock.now()
    record = IdempotencyKey(
        account_id=job.account_id, key=key, request_hash=request_hash, job_id=job.id, created_at=now
    )
    try:
        async with runtime.db.session() as session:
            # Expired keys go first, so that a key reused after 24 h is free again.
            await repository.delete_idempotency_keys_before(session, job.account_id, now - KEPT_FOR)
            await repository.add_job(session, job)
            await repository.add_idempotency_key(session, record)
            await session.commit()
    except IntegrityError:
        earlier = await earlier_job(runtime, job.account_id, key, request_hash)
        if earlier is None:
            raise
        return earlier, False
    return job, True
