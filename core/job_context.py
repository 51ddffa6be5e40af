"""What a queued job carries besides its id: who asked for it, and the trace it belongs to.

Taken from the enqueuing code's context when the job is queued (the API request that created
it: its request id, account and trace), stored with the queue entry (the in-process queue's
entry, or the arq job's arguments on Redis), and entered by the worker around the job's run:
the worker's log lines then carry the job's id, its account and the creating request's id, and
its spans join the request's trace after a span for the time the job waited in the queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pyexec.core import logs, tracing

QUEUE_WAIT_SPAN = "job.queue_wait"


class JobOwner(NamedTuple):
    """The job's account and its plan, as the API read them to admit the job: the worker
    applies that plan's limits without reading the account again."""

    account_id: str
    plan: str


@dataclass(frozen=True)
class JobContext:
    request_id: str | None = None
    account_id: str | None = None
    trace: Mapping[str, str] = field(default_factory=dict)  # W3C traceparent, tracestate
    enqueued_at_ns: int | None = None  # wall clock, for the queue wait's span
    owner: JobOwner | None = None  # None: the worker reads it from the database

    @classmethod
    def capture(cls, job_id: str, owner: JobOwner | None = None) -> JobContext:
        """The context of the code queuing `job_id` now. A worker that queues another job than
        its own (a held job whose slot freed) passes nothing of its own job on."""
        fields = logs.current()
        if fields.get("job_id") not in (None, job_id):
            return cls(enqueued_at_ns=time.time_ns(), owner=owner)
        return cls(
            request_id=fields.get("request_id"),
            account_id=fields.get("account_id"),
            trace=tracing.inject(),
            enqueued_at_ns=time.time_ns(),
            owner=owner,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for arq's job arguments."""
        return {
            "request_id": self.request_id,
            "account_id": self.account_id,
            "trace": dict(self.trace),
            "enqueued_at_ns": self.enqueued_at_ns,
            "owner": list(self.owner) if self.owner else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> JobContext:
        """Tolerant: a job queued by another version may carry less, or nothing."""
        if not isinstance(data, Mapping):
            return cls()
        trace = data.get("trace")
        enqueued = data.get("enqueued_at_ns")
        return cls(
            request_id=_text(data.get("request_id")),
            account_id=_text(data.get("account_id")),
            trace={str(k): str(v) for k, v in trace.items()} if isinstance(trace, Mapping) else {},
            enqueued_at_ns=enqueued if isinstance(enqueued, int) else None,
            owner=_owner(data.get("owner")),
        )

    @contextmanager
    def entered(self, job_id: str) -> Iterator[None]:
        """The job's log fields and trace around its run (a job queued before tracing started,
        or without a request, begins a trace of its own)."""
        with (
            logs.bind(job_id=job_id, account_id=self.account_id, request_id=self.request_id),
            tracing.continued(
                self.trace, QUEUE_WAIT_SPAN, self.enqueued_at_ns, {"pyexec.job_id": job_id}
            ),
        ):
            yield


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _owner(value: object) -> JobOwner | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    account_id, plan = (_text(v) for v in value)
    return JobOwner(account_id, plan) if account_id and plan else None
