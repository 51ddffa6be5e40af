"""Spans, and one job's trace carried through a queue entry (`JobContext`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pyexec.core import logs, tracing
from pyexec.core.job_context import QUEUE_WAIT_SPAN, JobContext, JobOwner
from tests.support.tracing import recording_spans


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with recording_spans() as exporter:
        yield exporter


def test_tracing_is_off_by_default_and_spans_do_nothing() -> None:
    assert not tracing.enabled()
    with tracing.span("anything", a=1) as span:
        assert span is None
    assert tracing.inject() == {}
    tracing.configure(None, "pyexec-test")  # no endpoint: stays off
    assert not tracing.enabled()


def test_a_span_records_attributes_and_errors(exporter: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), tracing.span("work", {"dotted.name": "x"}, n=2):
        raise RuntimeError("no")
    (span,) = exporter.get_finished_spans()
    assert span.name == "work"
    assert dict(span.attributes or {}) == {"dotted.name": "x", "n": 2}
    assert not span.status.is_ok


def test_a_queued_job_continues_the_trace_of_the_request_that_queued_it(
    exporter: InMemorySpanExporter,
) -> None:
    with logs.bind(request_id="req-1", account_id="acc-1"), tracing.span("POST /v1/jobs"):
        carried = JobContext.capture("job-1")
    # Through arq's arguments: plain values only.
    carried = JobContext.from_dict(carried.as_dict())
    assert carried.request_id == "req-1" and carried.account_id == "acc-1"
    assert "traceparent" in carried.trace
    time.sleep(0.01)
    with carried.entered("job-1"):
        assert logs.current() == {"request_id": "req-1", "account_id": "acc-1", "job_id": "job-1"}
        with tracing.span("job.run"), tracing.span("job.cell"):
            pass
    assert logs.current() == {}
    spans = {s.name: s for s in exporter.get_finished_spans()}
    request, wait = spans["POST /v1/jobs"], spans[QUEUE_WAIT_SPAN]
    run, cell = spans["job.run"], spans["job.cell"]
    assert len({s.context.trace_id for s in spans.values()}) == 1
    assert wait.parent is not None and wait.parent.span_id == request.context.span_id
    assert run.parent is not None and run.parent.span_id == wait.context.span_id
    assert cell.parent is not None and cell.parent.span_id == run.context.span_id
    assert wait.start_time is not None and wait.end_time is not None
    assert wait.end_time - wait.start_time >= 10_000_000  # the time it sat in the queue


def test_a_worker_queuing_another_job_passes_none_of_its_own_on(
    exporter: InMemorySpanExporter,
) -> None:
    with logs.bind(job_id="job-a", request_id="req-a"), tracing.span("job.run"):
        other = JobContext.capture("job-b")
        same = JobContext.capture("job-a")
    assert other.request_id is None and other.trace == {}
    assert same.request_id == "req-a" and same.trace


def test_a_context_from_another_version_is_read_leniently() -> None:
    assert JobContext.from_dict(None) == JobContext()
    assert JobContext.from_dict({"request_id": 3, "trace": "x", "enqueued_at_ns": "1"}) == (
        JobContext()
    )
    with JobContext().entered("job-1"):
        assert logs.current() == {"job_id": "job-1"}


def test_the_owner_travels_with_the_job_and_a_malformed_one_is_dropped() -> None:
    owner = JobOwner("acc-1", "pro")
    with logs.bind(job_id="job-a"):
        other = JobContext.capture("job-b", owner)  # a worker queuing a held job of another
    assert JobContext.from_dict(other.as_dict()).owner == owner
    for malformed in (["acc-1"], ["acc-1", 3], ["", "pro"], "acc-1 pro", {"plan": "pro"}):
        assert JobContext.from_dict({"owner": malformed}).owner is None
