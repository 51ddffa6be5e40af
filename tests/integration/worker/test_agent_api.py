"""Prompt jobs through the real server, with a scripted OpenAI-compatible model on loopback.

The model is the only thing scripted: PyExec's `openai` client talks to it over HTTP, the
cells run in real kernels, and the job, notebook and usage are read back over the API.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from tests.support.llm_server import ScriptedLLM, final_answer, http_error, run_python, say
from tests.support.servers import Server, run_job

API_KEY = "sk-test-" + "k" * 24
MAX_STEPS = 4


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLM) -> Iterator[Server]:
    env = {
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": API_KEY,
        "PYEXEC_LLM_MODEL": "scripted",
        "PYEXEC_AGENT_MAX_STEPS": str(MAX_STEPS),
        "PYEXEC_LLM_RETRIES": "2",
        "PYEXEC_LLM_TIMEOUT": "30",
    }
    srv = Server(Path(tmp_path_factory.mktemp("pyexec-llm")), env_overrides=env).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api(llm_server: Server) -> Iterator[httpx.Client]:
    with llm_server.client(llm_server.create_key("analyst@example.com")) as client:
        yield client


def key() -> str:
    return f"[t-{uuid.uuid4().hex[:8]}]"


def notebook(api: httpx.Client, job: dict[str, Any]) -> nbformat.NotebookNode:
    resp = api.get(f"/v1/jobs/{job['id']}/notebook")
    assert resp.status_code == 200, resp.text
    nb = nbformat.reads(resp.text, as_version=4)
    nbformat.validate(nb)
    return nb


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["body"]["messages"] if m["role"] == "tool"]


def test_multi_step_analysis_becomes_cells_prose_and_an_answer(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    k = key()
    llm.script(
        k,
        run_python(
            "import pandas as pd\n"
            "sales = pd.DataFrame({'region': ['N', 'S', 'N', 'S'], 'revenue': [10, 20, 30, 50]})\n"
            "sales.groupby('region')['revenue'].sum()",
            text="First I build the table and total revenue by region.",
            prompt_tokens=300,
            completion_tokens=40,
        ),
        run_python(
            "share = sales.groupby('region')['revenue'].sum() / sales['revenue'].sum()\n"
            "print(share.round(3).to_dict())",
            prompt_tokens=450,
            completion_tokens=30,
        ),
        final_answer(
            "**S** leads with 70 (63.6%).", prompt_tokens=520, completion_tokens=25
        ),
    )
    job = run_job(api, {"prompt": f"Which region sells most? {k}"})
    assert job["status"] == "completed", job
    assert job["result"] == "**S** leads with 70 (63.6%)."
    assert job["usage"]["llm_prompt_tokens"] == 300 + 450 + 520
    assert job["usage"]["llm_completion_tokens"] == 40 + 30 + 25
    assert job["usage"]["steps"] == 3 and job["usage"]["model"] == "scripted"

    requests = llm.requests_for(k)
    assert len(requests) == 3
    first = requests[0]
    assert first["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert first["headers"]["user-agent"].startswith("AsyncOpenAI/Python")
    assert first["body"]["model"] == "scripted"
    assert [t["function"]["name"] for t in first["body"]["tools"]] == [
        "run_python",
        "final_answer",
    ]
    messages = first["body"]["messages"]
    assert messages[0]["role"] == "system" and "final_answer" in messages[0]["content"]
    assert messages[1]["role"] == "user" and k in messages[1]["content"]
    # What the kernel really computed went back to the model, as text.
    assert "N    40" in tool_results(requests[1])[0] and "S    70" in tool_results(requests[1])[0]
    assert tool_results(requests[2])[1] == "{'N': 0.364, 'S': 0.636}"

    table = next(o for o in job["outputs"] if o["type"] == "table")
    assert table["rows"] == [["N", 40], ["S", 70]]

    nb = notebook(api, job)
    kinds = [(c.cell_type, c.source.splitlines()[0] if c.source else "") for c in nb.cells]
    assert kinds[0][0] == "markdown" and k in nb.cells[0].source  # title and prompt
    assert kinds[1] == ("markdown", "First I build the table and total revenue by region.")
    assert nb.cells[2].cell_type == "code" and "groupby" in nb.cells[2].source
    assert nb.cells[3].cell_type == "code" and "share" in nb.cells[3].source
    assert nb.cells[4].cell_type == "markdown" and nb.cells[4].source == job["result"]
    assert "pyexec-answer" in nb.cells[4].metadata["tags"]
    assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == [1, 2]


def test_model_fixes_its_error_on_the_second_try(api: httpx.Client, llm: ScriptedLLM) -> None:
    k = key()
    llm.script(
        k,
        run_python("values = [3, 4, 5]\ntotal = sum(values)\nprint(total / count)"),
        run_python("print(total / len(values))", text="`count` was undefined; use len()."),
        final_answer("The average is 4.0."),
    )
    job = run_job(api, {"prompt": f"Average of 3, 4, 5 {k}"})
    assert job["status"] == "completed", job
    assert job["result"] == "The average is 4.0."
    error_reply = tool_results(llm.requests_for(k)[1])[0]
    assert "NameError: name 'count' is not defined" in error_reply
    assert "(line 3)" in error_reply and "Traceback" in error_reply
    assert "\x1b[" not in error_reply
    assert tool_results(llm.requests_for(k)[2])[1] == "4.0"
    errors = [o for o in job["outputs"] if o["type"] == "error"]
    assert len(errors) == 1 and errors[0]["ename"] == "NameError"
    code = [c for c in notebook(api, job).cells if c.cell_type == "code"]
    assert code[0].outputs[-1]["output_type"] == "error"
    assert code[1].outputs[0]["text"] == "4.0\n"


def test_step_limit_fails_naming_it_and_keeps_every_cell(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    k = key()
    llm.script(k, *[run_python(f"step = {i}\nprint(step)") for i in range(1, MAX_STEPS + 1)])
    job = run_job(api, {"prompt": f"Loop forever {k}"})
    assert job["status"] == "failed"
    assert job["error_message"] == (
        f"stopped after {MAX_STEPS} steps without a final answer "
        f"(the step limit, PYEXEC_AGENT_MAX_STEPS={MAX_STEPS})"
    )
    requests = llm.requests_for(k)
    assert len(requests) == MAX_STEPS
    # The model was warned before its last step.
    assert "last step" in tool_results(requests[-1])[-1]
    assert "last step" not in tool_results(requests[-2])[-1]
    code = [c for c in notebook(api, job).cells if c.cell_type == "code"]
    assert [c.outputs[0]["text"] for c in code] == [f"{i}\n" for i in range(1, MAX_STEPS + 1)]
    assert job["usage"]["steps"] == MAX_STEPS


def test_model_that_never_calls_final_answer_is_nudged_then_stopped(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    k = key()
    llm.script(
        k,
        say("Let me think about the data."),
        run_python("print(2 + 2)"),
        say("The answer is probably 4."),
        say("I am confident it is 4."),
    )
    job = run_job(api, {"prompt": f"What is 2 + 2? {k}"})
    assert job["status"] == "failed"
    assert "PYEXEC_AGENT_MAX_STEPS" in job["error_message"]
    second = llm.requests_for(k)[1]["body"]["messages"]
    assert second[-1] == {
        "role": "user",
        "content": "Continue: call `run_python` to run code, or `final_answer` with your answer.",
    }
    prose = [c.source for c in notebook(api, job).cells[1:] if c.cell_type == "markdown"]
    assert prose == [
        "Let me think about the data.",
        "The answer is probably 4.",
        "I am confident it is 4.",
    ]


def test_endpoint_500_then_200_is_retried(api: httpx.Client, llm: ScriptedLLM) -> None:
    k = key()
    llm.script(k, http_error(500, "overloaded"), http_error(503), final_answer("Done."))
    job = run_job(api, {"prompt": f"Say done {k}"})
    assert job["status"] == "completed", job
    assert job["result"] == "Done."
    assert len(llm.requests_for(k)) == 3


def test_endpoint_5xx_past_the_retries_fails_with_the_status(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    k = key()
    llm.script(k, *[http_error(502, "bad gateway")] * 3)
    job = run_job(api, {"prompt": f"Say done {k}"})
    assert job["status"] == "failed"
    assert job["error_message"] == "the model endpoint returned 502 after 3 attempts: bad gateway"
    assert len(llm.requests_for(k)) == 3


def test_endpoint_401_fails_at_once_with_an_actionable_message(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    k = key()
    llm.script(k, http_error(401, f"Incorrect API key provided: {API_KEY}"))
    job = run_job(api, {"prompt": f"Anything {k}"})
    assert job["status"] == "failed"
    assert job["error_message"].startswith("the model endpoint returned 401: check OPENAI_API_KEY")
    assert API_KEY not in job["error_message"]
    assert len(llm.requests_for(k)) == 1  # an auth error is not retried


def test_the_api_key_never_reaches_the_kernel(api: httpx.Client, llm: ScriptedLLM) -> None:
    k = key()
    probe = (
        "import os\n"
        "print(sorted(k for k in os.environ if 'OPENAI' in k or 'PYEXEC' in k))\n"
        f"print(any({API_KEY!r} in v for v in os.environ.values()))"
    )
    llm.script(k, run_python(probe), final_answer("checked"))
    job = run_job(api, {"prompt": f"Check the environment {k}"})
    assert job["status"] == "completed", job
    requests = llm.requests_for(k)
    assert requests[0]["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert tool_results(requests[1]) == ["[]\nFalse"]


def test_prompt_and_code_run_code_first_then_the_model(api: httpx.Client, llm: ScriptedLLM) -> None:
    k = key()
    llm.script(k, run_python("print(int(temps.max()))"), final_answer("The maximum is 31."))
    code = "import pandas as pd\ntemps = pd.Series([12, 31, 7], name='temp')\nprint(len(temps))"
    job = run_job(api, {"prompt": f"What is the maximum? {k}", "code": code})
    assert job["status"] == "completed", job
    assert job["result"] == "The maximum is 31."
    first = llm.requests_for(k)[0]["body"]["messages"][1]["content"]
    assert "temps = pd.Series" in first and "Output:\n3" in first  # the code and its output
    assert tool_results(llm.requests_for(k)[1]) == ["31"]
    code_cells = [c for c in notebook(api, job).cells if c.cell_type == "code"]
    assert [c.source for c in code_cells] == [code, "print(int(temps.max()))"]


def test_time_budget_ends_a_slow_model(api: httpx.Client, llm: ScriptedLLM) -> None:
    k = key()
    slow = final_answer("too late")
    slow.delay = 6
    llm.script(k, run_python("x = 1"), slow)
    started = time.monotonic()
    job = run_job(api, {"prompt": f"Be slow {k}", "timeout_seconds": 3})
    assert job["status"] == "failed"
    assert job["error_message"] == (
        "timed out after 3 s (the job's time budget, timeout_seconds) waiting for the model"
    )
    assert time.monotonic() - started < 6
    assert [c.source for c in notebook(api, job).cells if c.cell_type == "code"] == ["x = 1"]


def test_follow_up_replays_the_parent_and_continues_its_notebook(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    parent_key, child_key = key(), key()
    llm.script(
        parent_key,
        run_python("base = 41\nprint(base)", text="Setting the base."),
        final_answer("The base is 41."),
    )
    parent = run_job(api, {"prompt": f"Set a base {parent_key}", "title": "Base"})
    assert parent["status"] == "completed", parent

    llm.script(child_key, run_python("print(base + 1)"), final_answer("It is 42."))
    child = run_job(
        api, {"prompt": f"Add one to the base {child_key}", "parent_job_id": parent["id"]}
    )
    assert child["status"] == "completed", child
    assert child["parent_job_id"] == parent["id"]
    assert child["result"] == "It is 42."
    # The parent's state was rebuilt in the fresh kernel before the model went on.
    assert tool_results(llm.requests_for(child_key)[1]) == ["42"]
    opening = llm.requests_for(child_key)[0]["body"]["messages"][1]["content"]
    assert "base = 41" in opening and "The base is 41." in opening
    # The child's outputs are its own; the parent's cells are in its notebook, ids kept.
    assert [o["text"] for o in child["outputs"] if o["type"] == "text"] == ["42\n"]
    parent_nb, child_nb = notebook(api, parent), notebook(api, child)
    parent_ids = [c.id for c in parent_nb.cells[1:]]
    child_ids = [c.id for c in child_nb.cells]
    start = child_ids.index(parent_ids[0])
    assert child_ids[start : start + len(parent_ids)] == parent_ids
    sources = [c.source for c in child_nb.cells if c.cell_type == "code"]
    assert sources == ["base = 41\nprint(base)", "print(base + 1)"]
    headings = [c.source.splitlines()[0] for c in child_nb.cells if c.cell_type == "markdown"]
    assert "## Earlier: Base" in headings and "## Follow-up" in headings
    assert child_nb.cells[-1].source == "It is 42."


def test_follow_up_of_a_missing_or_other_accounts_or_running_job_is_refused(
    llm_server: Server, api: httpx.Client
) -> None:
    resp = api.post("/v1/jobs", json={"prompt": "more", "parent_job_id": str(uuid.uuid4())})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"

    with llm_server.client(llm_server.create_key("someone-else@example.com")) as other:
        theirs = other.post("/v1/jobs", json={"code": "1"}).json()
    resp = api.post("/v1/jobs", json={"prompt": "more", "parent_job_id": theirs["id"]})
    assert resp.status_code == 404

    running = api.post("/v1/jobs", json={"code": "import time\ntime.sleep(60)"}).json()
    try:
        resp = api.post("/v1/jobs", json={"code": "1", "parent_job_id": running["id"]})
        assert resp.status_code == 409, resp.text
        error = resp.json()["error"]
        assert error["code"] == "conflict" and running["id"] in error["message"]
    finally:
        api.post(f"/v1/jobs/{running['id']}/cancel")


def test_usage_without_llm_fields_stays_zero_for_code_jobs(api: httpx.Client) -> None:
    job = run_job(api, {"code": "print(1)"})
    assert job["status"] == "completed"
    assert job["usage"]["llm_prompt_tokens"] == 0 and job["usage"]["llm_completion_tokens"] == 0
    assert "steps" not in job["usage"]
