"""The fenced-code-block protocol (`PYEXEC_LLM_TOOLS=off`), streamed, through the real server.

For servers without tool calling: the model writes ```python blocks, gets their output back
as a user message, and ends with a reply that holds no code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from tests.support.llm_server import ScriptedLLM, say
from tests.support.servers import Server, run_job


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLM) -> Iterator[httpx.Client]:
    env = {
        "OPENAI_BASE_URL": llm.url,
        "PYEXEC_LLM_MODEL": "local-model",  # no OPENAI_API_KEY: like Ollama or llama.cpp
        "PYEXEC_LLM_TOOLS": "off",
        "PYEXEC_LLM_STREAM": "on",
        "PYEXEC_KERNEL_POOL_SIZE": "1",
    }
    srv = Server(Path(tmp_path_factory.mktemp("pyexec-fenced")), env_overrides=env).start()
    try:
        with srv.client(srv.create_key("fenced@example.com")) as client:
            yield client
    finally:
        srv.stop()


def test_fenced_blocks_run_as_cells_and_plain_reply_is_the_answer(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    k = f"[f-{uuid.uuid4().hex[:8]}]"
    llm.script(
        k,
        say(
            "I'll add them up.\n\n```python\nvalues = [4, 8, 15]\nprint(sum(values))\n```",
            prompt_tokens=80,
            completion_tokens=20,
        ),
        say("```py\nprint(max(values) / min(values)\n```", prompt_tokens=90, completion_tokens=9),
        say("```python\nprint(max(values) / min(values))\n```"),
        say("**Final answer:** the sum is 27 and the ratio is 3.75."),
    )
    job = run_job(api, {"prompt": f"Sum and ratio of 4, 8, 15 {k}"})
    assert job["status"] == "completed", job
    assert job["result"] == "the sum is 27 and the ratio is 3.75."
    assert job["usage"]["model"] == "local-model" and job["usage"]["steps"] == 4
    assert job["usage"]["llm_prompt_tokens"] == 80 + 90 + 100 + 100

    requests = llm.requests_for(k)
    assert len(requests) == 4
    for request in requests:
        body = request["body"]
        assert "tools" not in body and body["stream"] is True
        assert "authorization" in request["headers"]  # a placeholder key, never a real one
        assert all(m["role"] in ("system", "user", "assistant") for m in body["messages"])
    assert "```python" in requests[0]["body"]["messages"][0]["content"]

    second = requests[1]["body"]["messages"]
    assert second[-2] == {
        "role": "assistant",
        "content": "I'll add them up.\n\n```python\nvalues = [4, 8, 15]\nprint(sum(values))\n```",
    }
    assert second[-1] == {"role": "user", "content": "Output:\n```\n27\n```"}
    syntax_error = requests[2]["body"]["messages"][-1]["content"]
    assert syntax_error.startswith("Output:\n```\nThe cell raised an error (SyntaxError")

    resp = api.get(f"/v1/jobs/{job['id']}/notebook")
    nb = nbformat.reads(resp.text, as_version=4)
    cells = [(c.cell_type, c.source) for c in nb.cells[1:]]
    assert cells == [
        ("markdown", "I'll add them up."),
        ("code", "values = [4, 8, 15]\nprint(sum(values))"),
        ("code", "print(max(values) / min(values)"),
        ("code", "print(max(values) / min(values))"),
        ("markdown", "the sum is 27 and the ratio is 3.75."),
    ]


def test_a_reply_without_code_at_the_first_step_is_the_answer(
    api: httpx.Client, llm: ScriptedLLM
) -> None:
    k = f"[f-{uuid.uuid4().hex[:8]}]"
    llm.script(k, say("Final answer: there is nothing to compute."))
    job = run_job(api, {"prompt": f"Say something {k}"})
    assert job["status"] == "completed", job
    assert job["result"] == "there is nothing to compute."
