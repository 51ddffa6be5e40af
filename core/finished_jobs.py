"""Jobs this process has just ended, for its own `?wait=` to answer without reading them back."""

from __future__ import annotations

from collections import OrderedDict

from pyexec.core.models import Job, JobStatus

# Enough for every wait that is woken by one burst of finishing jobs.
DEFAULT_SIZE = 256


class FinishedJobs:
    """The rows the worker of this process committed as jobs ended, newest last.

    A final job no longer changes status, so a waiter that is told a job ended may answer
    with its row from here; in a process without a worker (the scaled-out API) it finds
    nothing and reads the database, as before.
    """

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def put(self, job: Job) -> None:
        if not JobStatus(job.status).is_final:
            raise ValueError(f"job {job.id} is {job.status}, not final")
        self._jobs[job.id] = job
        self._jobs.move_to_end(job.id)
        while len(self._jobs) > self._size:
            self._jobs.popitem(last=False)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def forget(self, job_id: str) -> None:
        """The job was deleted: a later wait must not find it."""
        self._jobs.pop(job_id, None)
