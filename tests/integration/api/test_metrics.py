"""`GET /metrics` of `pyexec serve`, scraped through its real socket while real jobs run: the
API's and the in-process worker's metrics on one port, moving as jobs succeed, fail, call the
model and hit the rate limit."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import metrics as metrics_page
from tests.support.llm_server import ScriptedLLM, final_answer, http_error, run_python
from tests.support.metrics import Samples, value
from tests.support.servers import Server, run_job

TOKEN = "scrape-" + uuid.uuid4().hex
MODEL = "scripted-metrics-model"
FREE_REQUESTS_PER_DAY = 2
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")



@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    scripted = ScriptedLLM().start()
    try:
        yield scripted
    finally:
        scripted.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLM) -> Iterator[Server]:
    env = {
        "PYEXEC_METRICS_TOKEN": TOKEN,
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": "scripted",
        "PYEXEC_LLM_MODEL": MODEL,
        "PYEXEC_PLANS": json.dumps({"free": {"requests_per_day": FREE_REQUESTS_PER_DAY}}),
    }
    srv = Server(Path(tmp_path_factory.mktemp("metrics")), env_overrides=env).start()
    try:
        yield srv
    finally:
        srv.stop()


def scrape(server: Server, token: str | None = TOKEN) -> httpx.Response:
    return metrics_page.get(f"{server.url}/metrics", token)


def samples(server: Server) -> Samples:
    response = scrape(server)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return metrics_page.parse(response.text)


def wait_until(server: Server, check: Callable[[Samples], bool], timeout: float = 60) -> Samples:
    return metrics_page.wait_until(lambda: samples(server), check, timeout)


def test_metrics_move_as_jobs_run(server: Server, llm: ScriptedLLM) -> None:
    business = server.create_key(f"metrics-{uuid.uuid4().hex[:8]}@example.com")
    free = server.create_key(f"metrics-free-{uuid.uuid4().hex[:8]}@example.com", plan="free")
    before = samples(server)

    k = f"[metrics-{uuid.uuid4().hex[:8]}]"
    llm.script(
        k,
        run_python("print(2 + 2)", prompt_tokens=300, completion_tokens=30),
        final_answer("It is 4.", prompt_tokens=400, completion_tokens=10),
    )
    with server.client(business) as client:
        ok = run_job(client, {"code": "print(6 * 7)"})
        broken = run_job(client, {"code": "1 / 0"})
        asked = run_job(client, {"prompt": f"What is 2 + 2? {k}"})
    assert (ok["status"], broken["status"], asked["status"]) == ("completed", "failed", "completed")
    with server.client(free) as client:
        answers = [client.get("/v1/jobs").status_code for _ in range(FREE_REQUESTS_PER_DAY + 1)]
    assert answers == [200] * FREE_REQUESTS_PER_DAY + [429]

    def moved(name: str, **labels: str) -> Callable[[Samples], float]:
        return lambda found: value(found, name, **labels) - value(before, name, **labels)

    finished_ok = moved("pyexec_jobs_finished_total", status="completed", plan="business")
    finished_failed = moved("pyexec_jobs_finished_total", status="failed", plan="business")
    after = wait_until(server, lambda f: finished_ok(f) >= 2 and finished_failed(f) >= 1)

    # Jobs: created, finished by status and plan, timed.
    assert moved("pyexec_jobs_created_total", plan="business")(after) == 3
    assert finished_ok(after) == 2 and finished_failed(after) == 1
    assert moved("pyexec_jobs_finished_total", plan="free")(after) == 0
    assert moved("pyexec_job_duration_seconds_count", status="completed")(after) == 2
    assert moved("pyexec_job_duration_seconds_count", status="failed")(after) == 1
    assert moved("pyexec_job_duration_seconds_sum")(after) > 0
    assert moved("pyexec_job_queue_wait_seconds_count")(after) == 3
    assert moved("pyexec_job_queue_wait_seconds_count", priority="5")(after) == 3

    # HTTP: by route template and status; a job's id is never a label.
    created = moved("pyexec_http_requests_total", method="POST", route="/v1/jobs", status="201")
    assert created(after) == 3
    polled = moved("pyexec_http_requests_total", method="GET", route="/v1/jobs/{job_id}")
    assert polled(after) >= 3
    refused = moved("pyexec_http_requests_total", method="GET", route="/v1/jobs", status="429")
    assert refused(after) == 1
    assert moved("pyexec_http_request_duration_seconds_count", route="/v1/jobs")(after) >= 6
    for _, labels in after:
        for _, label_value in labels:
            assert not _UUID.search(label_value), f"an id in a label: {label_value}"

    # The rate limiter, the model and the kernels.
    assert moved("pyexec_rate_limit_rejections_total", limit="requests_per_day")(after) == 1
    assert moved("pyexec_llm_requests_total", model=MODEL)(after) == 2
    assert moved("pyexec_llm_errors_total", model=MODEL)(after) == 0
    assert moved("pyexec_llm_request_duration_seconds_count", model=MODEL)(after) == 2
    assert moved("pyexec_llm_tokens_total", model=MODEL, kind="prompt")(after) == 700
    assert moved("pyexec_llm_tokens_total", model=MODEL, kind="completion")(after) == 40
    # Each job's kernel was replaced by a fresh one.
    assert moved("pyexec_kernel_start_seconds_count")(after) >= 3
    pool = {
        dict(labels)["state"]: v
        for (name, labels), v in after.items()
        if name == "pyexec_kernel_pool_kernels"
    }
    assert set(pool) == {"idle", "starting", "leased"} and sum(pool.values()) >= 1

    # The queue is read at scrape time: empty now, one series per priority.
    depth = {
        dict(labels)["priority"]: v
        for (name, labels), v in after.items()
        if name == "pyexec_queue_depth"
    }
    assert depth == {str(p): 0.0 for p in range(1, 11)}
    # And the process's own (memory, CPU, open files) beside them.
    assert value(after, "process_resident_memory_bytes") > 0


def test_a_failed_model_request_counts_by_kind(server: Server, llm: ScriptedLLM) -> None:
    key = server.create_key(f"metrics-llm-{uuid.uuid4().hex[:8]}@example.com")
    k = f"[metrics-{uuid.uuid4().hex[:8]}]"
    llm.script(k, http_error(403, "not your model"))
    before = samples(server)
    with server.client(key) as client:
        job = run_job(client, {"prompt": f"Anything {k}"})
    assert job["status"] == "failed" and "403" in job["error_message"]

    def errors(found: Samples) -> float:
        return value(found, "pyexec_llm_errors_total", model=MODEL, kind="http_4xx") - value(
            before, "pyexec_llm_errors_total", model=MODEL, kind="http_4xx"
        )

    after = wait_until(server, lambda f: errors(f) >= 1)
    assert errors(after) == 1
    assert (
        value(after, "pyexec_llm_requests_total", model=MODEL)
        - value(before, "pyexec_llm_requests_total", model=MODEL)
        == 1
    )


def test_metrics_need_the_token_when_one_is_set(server: Server) -> None:
    for token in (None, "wrong-" + TOKEN):
        refused = scrape(server, token)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "unauthorized"
        assert "pyexec_" not in refused.text
    # Like the other service endpoints, /metrics needs no API key and is not rate limited.
    assert all(scrape(server).status_code == 200 for _ in range(FREE_REQUESTS_PER_DAY + 2))


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    srv = Server(
        tmp_path / "data",
        env_overrides={"PYEXEC_METRICS_ENABLED": "off", "PYEXEC_KERNEL_POOL_SIZE": "1"},
    ).start()
    try:
        off = httpx.get(f"{srv.url}/metrics", timeout=30)
        assert off.status_code == 404
        assert off.json()["error"]["code"] == "not_found"
        assert "PYEXEC_METRICS_ENABLED" in off.json()["error"]["message"]
        assert httpx.get(f"{srv.url}/readyz", timeout=30).status_code == 200
    finally:
        srv.stop()
