"""`pyexec api` and `pyexec worker` over Redis with JSON logs and traces sent over OTLP: a job's
worker lines carry the ids of the request that created it in the API process, and its spans
form one trace across the two processes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.deployment import FAST_RECOVERY, Deployment, deployed, wait_final
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.services import PostgresCluster, RedisServer


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresCluster,
    redis_server: RedisServer,
    receiver: OtlpReceiver,
) -> Iterator[Deployment]:
    env = {
        **FAST_RECOVERY,
        "PYEXEC_LOG_FORMAT": "json",
        "PYEXEC_LOG_LEVEL": "info",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # the SDK's batch delay, ms: spans arrive soon
    }
    with deployed(
        tmp_path_factory.mktemp("scaled-observed"),
        postgres.create_database(),
        redis_server,
        env,
        workers=1,
    ) as dep:
        yield dep


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"not a JSON line: {line!r}")
    return lines


def test_a_jobs_worker_lines_and_spans_join_its_request(
    deployment: Deployment, receiver: OtlpReceiver
) -> None:
    key = deployment.api.create_key("observed@example.com")
    request_id = f"req-{uuid.uuid4().hex}"
    with deployment.client(key) as client:
        client.headers["X-Request-ID"] = request_id
        created = client.post("/v1/jobs", json={"code": "print(6 * 7)"})
        assert created.status_code == 201, created.text
        job = wait_final(client, created.json()["id"])
    assert job["status"] == "completed", job

    def job_done(spans: list[ReceivedSpan]) -> bool:
        return any(s.name == "job.run" and s.attributes.get("pyexec.job_id") == job["id"]
                   for s in spans)  # fmt: skip

    spans = receiver.wait_for(job_done)
    (post,) = [s for s in spans if s.name == "POST /v1/jobs" and s.service == "pyexec-api"]
    in_trace = {s.name: s for s in spans if s.trace_id == post.trace_id}
    wait, run = in_trace["job.queue_wait"], in_trace["job.run"]
    cell = in_trace["job.cell"]
    assert post.parent_span_id == ""
    assert wait.service == run.service == cell.service == "pyexec-worker"
    assert wait.parent_span_id == post.span_id
    assert run.parent_span_id == wait.span_id
    assert cell.parent_span_id == run.span_id

    (worker,) = deployment.workers
    worker_lines = json_lines(worker.log_path.read_text())
    of_job = [line for line in worker_lines if line.get("job_id") == job["id"]]
    assert of_job, worker_lines[-20:]
    for line in of_job:
        assert line["request_id"] == request_id, line
        assert line.get("account_id"), line
    api_lines = json_lines(deployment.api.log_path.read_text())
    (posted,) = [
        line
        for line in api_lines
        if line["logger"] == "pyexec.access" and "POST /v1/jobs" in line["message"]
    ]
    assert posted["request_id"] == request_id
    assert {line["account_id"] for line in of_job} == {posted["account_id"]}
