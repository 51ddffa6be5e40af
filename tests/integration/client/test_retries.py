"""Retries and resumption through a real proxy that fails on cue, in front of the real server:
a submission is never made twice, a lost event stream resumes without a gap or a repeat."""

from __future__ import annotations

import json
import time

import pytest

from pyexec_client import (
    APIConnectionError,
    CellStartedEvent,
    OutputEvent,
    PyExec,
    RateLimitError,
    ResultEvent,
)
from tests.integration.client.fault_proxy import CutStream, FaultProxy, LoseResponse, Respond
from tests.support.servers import Server

LIMITED = {"error": {"code": "rate_limited", "message": "Daily request limit", "status": 429}}


def job_ids(server: Server, key: str) -> list[str]:
    with PyExec(api_key=key, base_url=server.url) as direct:
        return [j.id for j in direct.jobs.list()]


def test_a_429_with_retry_after_then_201_makes_exactly_one_job(
    server: Server, key: str, proxy: FaultProxy
) -> None:
    proxy.once("POST", "/v1/jobs", Respond(429, LIMITED, {"Retry-After": "1"}))
    started = time.monotonic()
    with PyExec(api_key=key, base_url=proxy.url) as client:
        job = client.jobs.create(code="6 * 7")
    assert time.monotonic() - started >= 1.0  # it waited as told
    [refused, created] = proxy.requests("POST", "/v1/jobs")
    assert created.status == 201
    # The same submission both times: the retry could not have made a second job.
    assert refused.headers["idempotency-key"] == created.headers["idempotency-key"]
    assert job_ids(server, key) == [job.id]


def test_an_answer_lost_after_the_job_was_made_does_not_make_a_second(
    server: Server, key: str, proxy: FaultProxy
) -> None:
    proxy.once("POST", "/v1/jobs", LoseResponse())
    with PyExec(api_key=key, base_url=proxy.url) as client:
        job = client.jobs.create(code="6 * 7", title="once")
    [lost, retried] = proxy.requests("POST", "/v1/jobs")
    assert (lost.status, retried.status) == (201, 200)  # 200: the job the first one made
    assert json.loads(lost.upstream_body)["id"] == job.id
    assert job_ids(server, key) == [job.id]


def test_an_upload_whose_answer_was_lost_is_not_sent_again(
    server: Server, key: str, proxy: FaultProxy, tmp_path: pytest.TempPathFactory
) -> None:
    # An upload carries no idempotency key: sending it again could store it twice.
    path = tmp_path / "a.csv"  # type: ignore[operator]
    path.write_text("a\n1\n")
    proxy.once("POST", "/v1/files", LoseResponse())
    with PyExec(api_key=key, base_url=proxy.url) as client, pytest.raises(APIConnectionError):
        client.files.upload(path)
    assert len(proxy.requests("POST", "/v1/files")) == 1


def test_a_daily_limit_is_not_waited_for(key: str, proxy: FaultProxy) -> None:
    proxy.once("GET", "/v1/jobs", Respond(429, LIMITED, {"Retry-After": "40000"}))
    started = time.monotonic()
    with (
        PyExec(api_key=key, base_url=proxy.url) as client,
        pytest.raises(RateLimitError) as limited,
    ):
        client.jobs.list_page()
    assert limited.value.retry_after == 40000 and time.monotonic() - started < 5
    assert len(proxy.requests("GET", "/v1/jobs")) == 1


def test_a_dropped_event_stream_resumes_without_gap_or_repeat(
    server: Server, key: str, proxy: FaultProxy
) -> None:
    # Cut after the 4th event (the first line printed), while the cell still sleeps.
    code = "print('one', flush=True)\nimport time; time.sleep(2)\nprint('two')\n# %%\n6 * 7"
    with PyExec(api_key=key, base_url=proxy.url) as client:
        job = client.jobs.create(code=code)
        proxy.once("GET", f"/v1/jobs/{job.id}/events", CutStream(events=4))
        events = list(client.jobs.stream(job.id))
    with PyExec(api_key=key, base_url=server.url) as direct:
        logged = list(direct.jobs.stream(job.id))

    first, again = proxy.requests("GET", f"/v1/jobs/{job.id}/events")
    assert "last-event-id" not in first.headers
    assert again.headers["last-event-id"] == events[3].id  # resumed after what it had seen
    assert [e.id for e in events] == [e.id for e in logged]  # no gap, no repeat
    texts = [e.text for e in events if isinstance(e, OutputEvent)]
    assert texts == ["one\n", "two\n", "42"]
    assert sum(isinstance(e, CellStartedEvent) for e in events) == 2
    assert isinstance(events[-1], ResultEvent) and events[-1].job.result == "42"
