"""Grounded numbers with a model: a scripted OpenAI-compatible model (the only thing scripted)
states a number that no cell printed; PyExec asks it once to correct or justify it, and a
number that stays invented is listed on the job and shown in the answer's notebook cell.

The real server, the real `openai` client over HTTP and real kernels, as in test_agent_api.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from tests.support.llm_server import ScriptedLLM, final_answer, run_python
from tests.support.servers import Server, run_job

API_KEY = "sk-test-" + "g" * 24


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLM) -> Iterator[httpx.Client]:
    env = {
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": API_KEY,
        "PYEXEC_LLM_MODEL": "scripted",
        "PYEXEC_AGENT_MAX_STEPS": "6",
        "PYEXEC_LLM_RETRIES": "1",
        "PYEXEC_LLM_TIMEOUT": "30",
    }
    server = Server(Path(tmp_path_factory.mktemp("pyexec-grounding")), env_overrides=env).start()
    try:
        with server.client(server.create_key("grounding@example.com")) as client:
            yield client
    finally:
        server.stop()


def key() -> str:
    return f"[g-{uuid.uuid4().hex[:8]}]"


def answer_cell(api: httpx.Client, job: dict[str, Any]) -> nbformat.NotebookNode:
    resp = api.get(f"/v1/jobs/{job['id']}/notebook")
    assert resp.status_code == 200, resp.text
    nb = nbformat.reads(resp.text, as_version=4)
    (cell,) = [c for c in nb.cells if "pyexec-answer" in c.metadata.get("tags", [])]
    return cell


def messages_sent(llm: ScriptedLLM, k: str, index: int) -> list[dict[str, Any]]:
    return llm.requests_for(k)[index]["body"]["messages"]


CODE = "values = [12.5, 31.25, 7.0]\nprint(sum(values) / len(values))"  # prints 16.916666…


def test_an_invented_number_is_sent_back_once_then_flagged(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    k = key()
    llm.script(
        k,
        run_python(CODE),
        final_answer("The mean is 16.92 and the median is 14.1."),
        final_answer("The mean is 16.92 and the median is 14.1, as I said."),
    )
    job = run_job(api, {"prompt": f"Mean and median of 12.5, 31.25 and 7 {k}"})
    assert job["status"] == "completed", job
    assert job["result"] == "The mean is 16.92 and the median is 14.1, as I said."
    assert job["ungrounded_numbers"] == ["14.1"]  # 16.92 rounds the printed 16.9166…

    # The model was asked once, naming the number, and answered again; not asked twice.
    assert len(llm.requests_for(k)) == 3
    asked = messages_sent(llm, k, 2)[-1]
    assert asked["role"] == "tool" and "14.1" in asked["content"]
    assert "16.92" not in asked["content"]
    cell = answer_cell(api, job)
    assert cell.source.startswith(job["result"])
    assert "Not found in any output of the cells above: `14.1`" in cell.source
    assert cell.metadata["pyexec"]["ungrounded_numbers"] == ["14.1"]


def test_a_model_that_corrects_itself_leaves_nothing_flagged(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    k = key()
    llm.script(
        k,
        run_python(CODE),
        final_answer("The mean is 17.5."),
        run_python("print(sorted(values)[1])"),
        final_answer("The mean is 16.92 and the median is 12.5."),
    )
    job = run_job(api, {"prompt": f"Mean and median {k}"})
    assert job["status"] == "completed", job
    assert job["ungrounded_numbers"] == []
    assert answer_cell(api, job).source == job["result"]


def test_numbers_the_request_gave_are_not_flagged(api: httpx.Client, llm: ScriptedLLM) -> None:
    k = key()
    llm.script(k, run_python(CODE), final_answer("Above the threshold of 15: 16.92."))
    job = run_job(api, {"prompt": f"Is the mean above 15? {k}"})
    assert job["status"] == "completed", job
    assert job["ungrounded_numbers"] == []
    assert len(llm.requests_for(k)) == 2
