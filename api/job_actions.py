"""What an account does to a job it has: cancel it, delete it once it has ended."""

from __future__ import annotations

from pyexec.api.errors import Conflict, NotFound
from pyexec.core import metrics, repository
from pyexec.core.event_types import CancelRequested, StatusChanged
from pyexec.core.models import Job, JobStatus
from pyexec.core.runtime import Runtime


async def request_cancel(runtime: Runtime, job: Job) -> None:
    """A pending job is cancelled here and now; a running one is told to stop."""
    async with runtime.db.session() as session:
        # The worker skips a cancelled job if it is still queued.
        cancelled = await repository.cancel_pending(session, job.id)
        owner = await repository.job_owner_plan(session, job.id) if cancelled else None
        if not cancelled:
            await repository.request_cancel(session, job.id)
        await session.commit()
    if owner is not None:
        metrics.job_finished(owner[1], JobStatus.cancelled.value, None, None)
    if cancelled:
        await runtime.events.publish(job.id, StatusChanged(status=JobStatus.cancelled.value))
    else:
        await runtime.events.publish(job.id, CancelRequested())


async def delete_ended_job(runtime: Runtime, job: Job) -> None:
    """Delete a final job's row, then its stored bytes; 409 while it runs."""
    if not JobStatus(job.status).is_final:
        raise Conflict(
            f"Job {job.id} is still {job.status}: cancel it (POST /v1/jobs/{job.id}/cancel), "
            "then delete it once it has ended."
        )
    async with runtime.db.session() as session:
        deleted = await repository.delete_job(session, job.id)
        await session.commit()
    runtime.finished_jobs.forget(job.id)
    if not deleted:
        raise NotFound(f"No such job: {job.id}")
    # Row first, then bytes: a failure in between leaves bytes nobody can reach, never a
    # job whose notebook is gone.
    await runtime.storage.delete_job(job.id)
