"""One job is one trace: the embedded service (API, in-process worker, real kernels, the model
scripted over HTTP) in this process, traced by an SDK provider with an in-memory exporter that
the test installs (`core.tracing.install`), driven through a real socket."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pyexec.api.app import create_app
from pyexec.core.job_context import QUEUE_WAIT_SPAN
from pyexec.core.migrate import upgrade
from pyexec.core.settings import Settings, load_settings
from pyexec.worker.inprocess import embedded_worker
from tests.support.in_process import serving
from tests.support.llm_server import ScriptedLLM, final_answer, run_python
from tests.support.servers import free_port
from tests.support.tracing import recording_spans

START_TIMEOUT_SECONDS = 120.0


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    with recording_spans() as exporter:
        yield exporter


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLM, exporter: InMemorySpanExporter
) -> Iterator[tuple[str, Settings]]:
    data_dir = Path(tmp_path_factory.mktemp("traced"))
    port = free_port()
    settings = load_settings(
        data_dir=data_dir,
        host="127.0.0.1",
        port=port,
        kernel_pool_size=1,
        llm_model="scripted",
        **{"OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-test-" + "t" * 24},
    )
    upgrade(settings.db_url)
    app = create_app(settings, components=(embedded_worker,))
    with serving(
        app, port, ready_path="/readyz", start_timeout=START_TIMEOUT_SECONDS, stop_timeout=60
    ) as url:
        yield url, settings


def test_one_jobs_spans_form_one_nested_trace(
    service: tuple[str, Settings], llm: ScriptedLLM, exporter: InMemorySpanExporter
) -> None:
    import asyncio

    from pyexec.admin import create_key

    url, settings = service
    _, key = asyncio.run(create_key(settings, "traces@example.com", "business", "test"))
    marker = f"[t-{uuid.uuid4().hex[:8]}]"
    llm.script(marker, run_python("print(6 * 7)"), final_answer("It is 42."))
    exporter.clear()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=90) as c:
        created = c.post("/v1/jobs", json={"prompt": f"What is six times seven? {marker}"})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        job = c.get(f"/v1/jobs/{job_id}", params={"wait": 60}).json()
    assert job["status"] == "completed", job

    def spans_of_job() -> list[ReadableSpan]:
        return [
            s
            for s in exporter.get_finished_spans()
            if s.name == "POST /v1/jobs" or (s.attributes or {}).get("pyexec.job_id") == job_id
        ]

    deadline = time.monotonic() + 30
    while not any(s.name == "job.run" for s in spans_of_job()):  # ends just after the row
        assert time.monotonic() < deadline, [s.name for s in exporter.get_finished_spans()]
        time.sleep(0.05)

    (post,) = [s for s in exporter.get_finished_spans() if s.name == "POST /v1/jobs"]
    trace_id = post.context.trace_id
    in_trace = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
    by_name: dict[str, list[ReadableSpan]] = {}
    for s in in_trace:
        by_name.setdefault(s.name, []).append(s)
    (wait,) = by_name[QUEUE_WAIT_SPAN]
    (run,) = by_name["job.run"]
    cells = by_name["job.cell"]
    calls = by_name["llm.chat"]
    assert post.parent is None
    assert post.attributes is not None and post.attributes["http.route"] == "/v1/jobs"
    assert post.attributes["http.response.status_code"] == 201
    assert wait.parent is not None and wait.parent.span_id == post.context.span_id
    assert run.parent is not None and run.parent.span_id == wait.context.span_id
    assert len(cells) >= 1 and len(calls) == 2  # run_python, then final_answer
    for child in [*cells, *calls]:
        assert child.parent is not None and child.parent.span_id == run.context.span_id, child
    assert calls[0].attributes is not None
    assert calls[0].attributes["gen_ai.request.model"] == "scripted"
    # The wait for the job (GET ?wait=) is a trace of its own, named by its route template.
    gets = [s for s in exporter.get_finished_spans() if s.name == "GET /v1/jobs/{job_id}"]
    assert gets and all(s.context.trace_id != trace_id for s in gets)
