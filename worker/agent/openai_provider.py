"""Any OpenAI-compatible chat-completions server as the analyst's model.

OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp's server and LiteLLM all speak this protocol; the
endpoint is chosen by `OPENAI_BASE_URL`. With `PYEXEC_LLM_TOOLS=off` the model is asked for
fenced ```python blocks instead of tool calls, for servers that cannot call tools. The
`openai` client retries timeouts, 429 and 5xx with exponential backoff (honouring
`Retry-After`); what still fails becomes a `ModelError` a person can act on.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import openai
from openai import AsyncOpenAI

from pyexec.core import metrics
from pyexec.core.settings import Settings
from pyexec.core.tracing import span
from pyexec.worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Conversation,
    ModelError,
    ModelTurn,
    TokenUsage,
    ToolCall,
)
from pyexec.worker.agent.prompts import (
    FENCED_LAST_STEP,
    FENCED_NUDGE,
    FENCED_SYSTEM_PROMPT,
    LAST_STEP,
    NUDGE,
    TOOLS,
    TOOLS_SYSTEM_PROMPT,
    context_message,
)

OPENAI_URL = "https://api.openai.com/v1"
CONNECT_TIMEOUT_SECONDS = 10.0  # reaching the endpoint; PYEXEC_LLM_TIMEOUT bounds each request
DETAIL_CHARS = 300
# Servers without an API key (Ollama, llama.cpp) still need the header to be well-formed.
NO_KEY = "not-needed"

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_CODE_LANGUAGES = {"", "python", "py", "python3", "ipython", "ipython3"}
# "Final answer:", "**Final answer:**" or "**Final answer**:" before the answer itself.
_FINAL_LABEL = re.compile(
    r"^\s*(?:\*\*\s*final answer\s*:?\s*\*\*|final answer)\s*:?\s*", re.IGNORECASE
)


def make_client(settings: Settings) -> AsyncOpenAI:
    # Every argument explicit: the client would otherwise read the environment itself.
    return AsyncOpenAI(
        api_key=settings.openai_api_key or NO_KEY,
        base_url=settings.openai_base_url or OPENAI_URL,
        organization=None,
        project=None,
        timeout=openai.Timeout(
            settings.llm_timeout, connect=min(CONNECT_TIMEOUT_SECONDS, settings.llm_timeout)
        ),
        max_retries=settings.llm_retries,
    )


class OpenAIModel:
    """Stateless between calls: one instance serves every job of a worker."""

    def __init__(self, client: AsyncOpenAI, name: str, settings: Settings) -> None:
        self.client = client
        self.name = name
        self.tools = settings.llm_tools
        self.stream = settings.llm_stream
        self.timeout = settings.llm_timeout
        self.retries = settings.llm_retries
        self.base_url = str(client.base_url).rstrip("/")
        self._secret = settings.openai_api_key

    async def next_turn(self, conversation: Conversation) -> ModelTurn:
        request: dict[str, Any] = {"model": self.name, "messages": self.messages(conversation)}
        if self.tools:
            request["tools"] = TOOLS
        t0 = time.perf_counter()
        try:
            with span("llm.chat", {"gen_ai.request.model": self.name}):
                if self.stream:
                    text, calls, usage = await self._streamed(request)
                else:
                    text, calls, usage = await self._complete(request)
        except openai.APIError as exc:
            metrics.llm_failed(self.name, time.perf_counter() - t0, exc)
            raise ModelError(self.explain(exc)) from None
        metrics.llm_answered(
            self.name, time.perf_counter() - t0, usage.prompt_tokens, usage.completion_tokens
        )
        if self.tools:
            return ModelTurn(text=text or None, tool_calls=tuple(calls), usage=usage)
        return fenced_turn(text or "", usage)

    def messages(self, conversation: Conversation) -> list[dict[str, Any]]:
        system = TOOLS_SYSTEM_PROMPT if self.tools else FENCED_SYSTEM_PROMPT
        opening = [
            {"role": "system", "content": system},
            {"role": "user", "content": context_message(conversation)},
        ]
        turns = conversation.messages if self.tools else fenced_messages(conversation.messages)
        return [*opening, *turns]

    async def _complete(self, request: dict[str, Any]) -> tuple[str, list[ToolCall], TokenUsage]:
        response = await self.client.chat.completions.create(**request)
        if not response.choices:
            raise ModelError("the model endpoint answered without any choices")
        message = response.choices[0].message
        calls = [
            # Some servers leave the id out; the tool result must still name its call.
            ToolCall(
                call.id or f"call_{i}", call.function.name, parse_arguments(call.function.arguments)
            )
            for i, call in enumerate(message.tool_calls or [])
            if getattr(call, "function", None) is not None
        ]
        usage = response.usage
        tokens = TokenUsage(
            prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage else 0,
        )
        return message.content or "", calls, tokens

    async def _streamed(self, request: dict[str, Any]) -> tuple[str, list[ToolCall], TokenUsage]:
        stream = await self.client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )
        text: list[str] = []
        slots: dict[int, dict[str, str]] = {}  # tool calls arrive in pieces, by index
        tokens = TokenUsage()
        async for chunk in stream:
            if chunk.usage is not None:
                tokens = TokenUsage(
                    chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0
                )
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                for piece in delta.tool_calls or []:
                    slot = slots.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                    if piece.id:
                        slot["id"] = piece.id
                    if piece.function is not None:
                        slot["name"] += piece.function.name or ""
                        slot["arguments"] += piece.function.arguments or ""
        calls = [
            ToolCall(s["id"] or f"call_{i}", s["name"], parse_arguments(s["arguments"]))
            for i, s in sorted(slots.items())
        ]
        return "".join(text), calls, tokens

    def explain(self, exc: openai.APIError) -> str:
        """What went wrong, and which setting to check."""
        tries = f"after {self.retries + 1} attempts" if self.retries else "(no retries)"
        if isinstance(exc, openai.APITimeoutError):
            return (
                f"the model endpoint did not answer within {self.timeout:g} s "
                f"(PYEXEC_LLM_TIMEOUT) {tries}: check OPENAI_BASE_URL ({self.base_url}) or "
                "raise PYEXEC_LLM_TIMEOUT"
            )
        if isinstance(exc, openai.APIConnectionError):
            return (
                f"could not connect to the model endpoint at {self.base_url} {tries}: "
                "check OPENAI_BASE_URL"
            )
        if not isinstance(exc, openai.APIStatusError):
            return f"the model request failed: {self._detail(exc)}"
        status = exc.status_code
        detail = self._detail(exc)
        if status == 401:
            return f"the model endpoint returned 401: check OPENAI_API_KEY ({self.base_url})"
        if status == 403:
            return (
                f"the model endpoint returned 403: check that OPENAI_API_KEY may use the "
                f"model '{self.name}' (PYEXEC_LLM_MODEL)"
            )
        if status == 404:
            return (
                f"the model endpoint returned 404: check PYEXEC_LLM_MODEL ('{self.name}') and "
                f"OPENAI_BASE_URL ({self.base_url}): {detail}"
            )
        if status == 429:
            return (
                f"the model endpoint returned 429 (rate limited) {tries}: try again later, or "
                f"raise the quota of OPENAI_API_KEY: {detail}"
            )
        if status >= 500:
            return f"the model endpoint returned {status} {tries}: {detail}"
        hint = ""
        if self.tools and "tool" in detail.lower():
            hint = " (if this server cannot call tools, set PYEXEC_LLM_TOOLS=off)"
        return f"the model endpoint rejected the request with {status}{hint}: {detail}"

    def _detail(self, exc: openai.APIError) -> str:
        body = exc.body
        message = None
        if isinstance(body, dict):
            error = body.get("error", body)
            message = error.get("message") if isinstance(error, dict) else error
        text = " ".join(str(message or exc.message or type(exc).__name__).split())
        if self._secret:
            text = text.replace(self._secret, "***")
        return text[:DETAIL_CHARS]


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool arguments as a dict; what is not a JSON object is kept for the error reply."""
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {"_unparsed": str(raw)}
    return value if isinstance(value, dict) else {"_unparsed": str(raw)}


# -- the fenced-code-block protocol (PYEXEC_LLM_TOOLS=off) ---------------------------------


def fenced_turn(content: str, usage: TokenUsage) -> ModelTurn:
    """Code blocks are `run_python` calls; a reply without code is the final answer."""
    blocks = [
        m.group(2).strip("\n")
        for m in _FENCE.finditer(content)
        if m.group(1).lower() in _CODE_LANGUAGES
    ]
    blocks = [b for b in blocks if b.strip()]
    if not blocks:
        answer = _FINAL_LABEL.sub("", content.strip(), count=1).strip()
        if not answer:
            return ModelTurn(text=None, usage=usage)
        call = ToolCall("call_final", FINAL_ANSWER, {"text": answer})
        return ModelTurn(text=None, tool_calls=(call,), usage=usage)
    prose = _FENCE.sub(
        lambda m: "" if m.group(1).lower() in _CODE_LANGUAGES else m.group(0), content
    ).strip()
    calls = tuple(
        ToolCall(f"call_{i}", RUN_PYTHON, {"code": code}) for i, code in enumerate(blocks, 1)
    )
    return ModelTurn(text=prose or None, tool_calls=calls, usage=usage)


def fenced_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The loop's tool-call transcript retold as plain chat for a model without tools."""
    told: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            parts = [message.get("content") or ""]
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                if function.get("name") == RUN_PYTHON:
                    code = parse_arguments(function.get("arguments")).get("code", "")
                    parts.append(f"```python\n{code}\n```")
            told.append({"role": "assistant", "content": "\n\n".join(p for p in parts if p)})
        elif role == "tool":
            content = str(message.get("content", ""))
            note = ""
            if content.endswith(LAST_STEP):  # the loop's note, not the cell's output
                content, note = content[: -len(LAST_STEP)].rstrip(), f"\n\n{FENCED_LAST_STEP}"
            told.append({"role": "user", "content": f"Output:\n```\n{content}\n```{note}"})
        else:
            told.append({**message, "content": _fenced_wording(str(message.get("content", "")))})
    return _merge_consecutive_users(told)


def _fenced_wording(text: str) -> str:
    text = text.replace(LAST_STEP, FENCED_LAST_STEP)
    return text.replace(NUDGE, FENCED_NUDGE)


def _merge_consecutive_users(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Several code blocks in one reply give several outputs: one user message reads better,
    # and some chat templates insist that roles alternate.
    merged: list[dict[str, Any]] = []
    for message in messages:
        if merged and message["role"] == "user" and merged[-1]["role"] == "user":
            merged[-1] = {
                **merged[-1],
                "content": merged[-1]["content"] + "\n\n" + message["content"],
            }
        else:
            merged.append(message)
    return merged
