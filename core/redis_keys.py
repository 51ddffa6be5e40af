"""Every Redis key, channel and task name PyExec uses, in one place (as arq does).

arq's own keys for a queued job (`arq:job:<id>`, `arq:in-progress:<id>`, `arq:retry:<id>`) keep
arq's prefixes; the queue itself is PyExec's sorted set, `QUEUE`.
"""

from __future__ import annotations

from datetime import date

from arq.constants import in_progress_key_prefix, job_key_prefix

# The arq queue (a sorted set of job ids; the score orders them, see core.redis_queue).
QUEUE = "pyexec:queue"
# Published after every enqueue: idle workers look at the queue at once instead of at their
# next poll (worker.arq_loop).
QUEUE_WAKE_CHANNEL = "pyexec:queue-wake"
# The arq task a worker runs for a job; its one argument is the job id.
RUN_JOB_TASK = "pyexec.run_job"

ARQ_JOB_PREFIX = job_key_prefix
ARQ_IN_PROGRESS_PREFIX = in_progress_key_prefix

# A job's event log (a stream; its ids are the SSE event ids) and its live channel.
EVENTS_STREAM_PREFIX = "pyexec:events:"
EVENTS_CHANNEL_PREFIX = "pyexec:events-live:"
# Subscribed while a process has no job channel, so that the pub/sub connection stays open.
IDLE_CHANNEL = "pyexec:idle"

# A worker's hold on a running job: the value is the worker's id; renewed while the job runs.
LEASE_PREFIX = "pyexec:lease:"
# One per live worker process, refreshed with its leases (for operators: who is running).
WORKER_PREFIX = "pyexec:worker:"

# An account's slots under its plan's running limit (worker.admission): the jobs it runs
# (a sorted set scored by the ms at which each entry expires unless renewed with its lease)
# and the jobs waiting for a slot (a sorted set scored by their queue score).
RUNNING_PREFIX = "pyexec:running:"
HELD_PREFIX = "pyexec:held:"

# An account's request count for one UTC day (core.redis_ratelimit); expires after two days.
REQUESTS_PREFIX = "pyexec:requests:"


def arq_job_key(job_id: str) -> str:
    return ARQ_JOB_PREFIX + job_id


def arq_in_progress_key(job_id: str) -> str:
    return ARQ_IN_PROGRESS_PREFIX + job_id


def events_stream(job_id: str) -> str:
    return EVENTS_STREAM_PREFIX + job_id


def events_channel(job_id: str) -> str:
    return EVENTS_CHANNEL_PREFIX + job_id


def lease_key(job_id: str) -> str:
    return LEASE_PREFIX + job_id


def worker_key(worker_id: str) -> str:
    return WORKER_PREFIX + worker_id


def running_key(account_id: str) -> str:
    return RUNNING_PREFIX + account_id


def held_key(account_id: str) -> str:
    return HELD_PREFIX + account_id


def request_count_key(account_id: str, day: date) -> str:
    return f"{REQUESTS_PREFIX}{account_id}:{day.isoformat()}"
