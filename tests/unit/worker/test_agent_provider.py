from __future__ import annotations

import httpx2
import openai
import pytest

from pyexec.core.settings import SettingsError, load_settings
from pyexec.worker.agent.factory import DEFAULT_OPENAI_MODEL, llm_model_name
from pyexec.worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Conversation,
    FileSummary,
    TokenUsage,
)
from pyexec.worker.agent.openai_provider import (
    OpenAIModel,
    fenced_messages,
    fenced_turn,
    make_client,
    parse_arguments,
)
from pyexec.worker.agent.prompts import FENCED_NUDGE, LAST_STEP, NUDGE

URL = "http://127.0.0.1:9/v1"


def model(**settings: object) -> OpenAIModel:
    options = load_settings(openai_base_url=URL, openai_api_key="sk-secret-1234", **settings)
    return OpenAIModel(make_client(options), "m1", options)


def status_error(cls: type[openai.APIStatusError], status: int, message: str) -> Exception:
    request = httpx2.Request("POST", f"{URL}/chat/completions")
    response = httpx2.Response(status, request=request)
    return cls(f"Error code: {status}", response=response, body={"message": message})


def test_fenced_reply_code_blocks_become_run_python_calls() -> None:
    turn = fenced_turn(
        "Looking first.\n```python\nprint(1)\n```\nThen:\n```\nx = 2\n```\n```text\nnot code\n```",
        TokenUsage(5, 6),
    )
    assert [c.name for c in turn.tool_calls] == [RUN_PYTHON, RUN_PYTHON]
    assert [c.arguments["code"] for c in turn.tool_calls] == ["print(1)", "x = 2"]
    assert turn.text == "Looking first.\n\nThen:\n\n```text\nnot code\n```"
    assert turn.usage == TokenUsage(5, 6)


def test_fenced_reply_without_code_is_the_final_answer() -> None:
    turn = fenced_turn("Final answer: **42** rows.", TokenUsage())
    assert turn.text is None
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [
        (FINAL_ANSWER, {"text": "**42** rows."})
    ]
    assert fenced_turn("  ", TokenUsage()).tool_calls == ()


def test_tool_transcript_is_retold_as_plain_chat() -> None:
    messages = [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "a",
                    "type": "function",
                    "function": {"name": RUN_PYTHON, "arguments": '{"code": "1"}'},
                },
                {
                    "id": "b",
                    "type": "function",
                    "function": {"name": RUN_PYTHON, "arguments": '{"code": "2"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": f"2\n\n{LAST_STEP}"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": NUDGE},
    ]
    told = fenced_messages(messages)
    assert told[0] == {
        "role": "assistant",
        "content": "Checking.\n\n```python\n1\n```\n\n```python\n2\n```",
    }
    assert told[1]["role"] == "user"
    assert told[1]["content"].startswith("Output:\n```\n1\n```\n\nOutput:\n```\n2\n```\n\n")
    assert "reply now with your final answer" in told[1]["content"]
    assert told[3] == {"role": "user", "content": FENCED_NUDGE}


def test_arguments_that_are_not_an_object_are_kept_for_the_reply() -> None:
    assert parse_arguments('{"code": "x"}') == {"code": "x"}
    assert parse_arguments({"code": "x"}) == {"code": "x"}
    assert parse_arguments("{oops") == {"_unparsed": "{oops"}
    assert parse_arguments("[1]") == {"_unparsed": "[1]"}
    assert parse_arguments(None) == {}


def test_error_messages_name_what_to_check_and_hide_the_key() -> None:
    m = model(llm_retries=2, llm_timeout=7)
    assert m.explain(status_error(openai.AuthenticationError, 401, "bad key sk-secret-1234")) == (
        f"the model endpoint returned 401: check OPENAI_API_KEY ({URL})"
    )
    not_found = m.explain(status_error(openai.NotFoundError, 404, "no model m1"))
    assert "PYEXEC_LLM_MODEL ('m1')" in not_found and "OPENAI_BASE_URL" in not_found
    limited = m.explain(status_error(openai.RateLimitError, 429, "slow down sk-secret-1234"))
    assert limited.startswith("the model endpoint returned 429 (rate limited) after 3 attempts")
    assert "sk-secret-1234" not in limited and "***" in limited
    bad = m.explain(status_error(openai.BadRequestError, 400, "tools are not supported"))
    assert "PYEXEC_LLM_TOOLS=off" in bad
    request = httpx2.Request("POST", URL)
    timeout = m.explain(openai.APITimeoutError(request=request))
    assert timeout.startswith("the model endpoint did not answer within 7 s (PYEXEC_LLM_TIMEOUT)")
    assert "check OPENAI_BASE_URL" in m.explain(openai.APIConnectionError(request=request))


def test_messages_open_with_system_prompt_files_and_request() -> None:
    files = [FileSummary("sales.csv", 1234, "table", "df", rows=10)]
    conversation = Conversation(prompt="Top 10 by revenue", files=files)
    conversation.messages.append({"role": "assistant", "content": "hi"})
    tools, fenced = model().messages(conversation), model(llm_tools=False).messages(conversation)
    assert "final_answer" in tools[0]["content"] and "```python" in fenced[0]["content"]
    assert tools[1]["role"] == "user"
    assert "`sales.csv` (1,234 bytes) is loaded as the DataFrame `df`" in tools[1]["content"]
    assert tools[1]["content"].endswith("Request:\nTop 10 by revenue")
    assert tools[2:] == [{"role": "assistant", "content": "hi"}]


def test_model_name_defaults_only_for_openai_itself() -> None:
    assert llm_model_name(load_settings(openai_api_key="k")) == DEFAULT_OPENAI_MODEL
    assert llm_model_name(load_settings(openai_base_url=URL, llm_model="qwen")) == "qwen"
    with pytest.raises(SettingsError, match="PYEXEC_LLM_MODEL"):
        llm_model_name(load_settings(openai_base_url=URL))


def test_llm_settings_parse_on_and_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYEXEC_LLM_TOOLS", "off")
    monkeypatch.setenv("PYEXEC_LLM_STREAM", "on")
    monkeypatch.setenv("PYEXEC_AGENT_MAX_STEPS", "3")
    settings = load_settings()
    assert settings.llm_tools is False and settings.llm_stream is True
    assert settings.agent_max_steps == 3
    monkeypatch.setenv("PYEXEC_AGENT_MAX_STEPS", "0")
    with pytest.raises(SettingsError, match="PYEXEC_AGENT_MAX_STEPS"):
        load_settings()
