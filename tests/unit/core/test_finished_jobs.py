"""The rows of jobs this process ended, kept for its own waiters."""

from __future__ import annotations

import pytest

from pyexec.core.finished_jobs import FinishedJobs
from pyexec.core.models import Job, JobStatus


def _job(job_id: str, status: JobStatus = JobStatus.completed) -> Job:
    return Job(id=job_id, account_id="acc_1", code="1", status=status.value)


def test_a_finished_job_is_found_until_forgotten() -> None:
    jobs = FinishedJobs()
    jobs.put(_job("job_1"))
    found = jobs.get("job_1")
    assert found is not None and found.status == "completed"
    jobs.forget("job_1")  # deleted: a later wait reads the database (and gets a 404)
    assert jobs.get("job_1") is None


def test_only_final_jobs_are_kept() -> None:
    # A waiter answers with what it finds: a running row would end its wait too early.
    with pytest.raises(ValueError, match="not final"):
        FinishedJobs().put(_job("job_1", JobStatus.running))


def test_the_oldest_go_first() -> None:
    jobs = FinishedJobs(size=2)
    for job_id in ("job_1", "job_2", "job_3"):
        jobs.put(_job(job_id))
    assert jobs.get("job_1") is None
    assert jobs.get("job_2") is not None and jobs.get("job_3") is not None
