"""The seam between the agent loop and whatever decides the next step.

Two kinds of model sit behind `Model`: an OpenAI-compatible LLM (which reads `messages`, the
chat transcript in the OpenAI format) and the offline planner (which reads the structured
`files` and `steps`). The loop keeps both views of the conversation in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

RUN_PYTHON = "run_python"
FINAL_ANSWER = "final_answer"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype as text: "int64", "float64", "object", "datetime64[ns]", ...


@dataclass(frozen=True)
class FileSummary:
    """What the inspection cell found out about one input file, in the job's kernel."""

    name: str
    bytes: int
    kind: Literal["table", "other"]
    variable: str | None = None  # the DataFrame name the inspection cell loaded it into, if any
    columns: tuple[Column, ...] = ()
    rows: int | None = None
    head: tuple[dict[str, Any], ...] = ()  # a few rows, JSON-safe
    error: str | None = None  # why a file that looked tabular could not be read


@dataclass(frozen=True)
class StepResult:
    """One `run_python` call as it ran."""

    code: str
    status: str  # the kernel's Execution.status: ok, error, timeout, died, cancelled
    outputs: list[dict[str, Any]]  # nbformat output dicts
    summary: str  # what the model is told: text outputs truncated, tables as text, images named
    error: str | None = None  # "ZeroDivisionError: division by zero (line 3)" and the traceback


@dataclass
class Conversation:
    prompt: str
    files: list[FileSummary] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # OpenAI chat format
    parent_transcript: str | None = None  # a follow-up job's parent, as text


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str  # RUN_PYTHON or FINAL_ANSWER (anything else is answered with an error)
    arguments: dict[str, Any]  # {"code": ...} or {"text": ...}


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class ModelTurn:
    text: str | None  # prose between tool calls: becomes a markdown cell
    tool_calls: tuple[ToolCall, ...] = ()
    usage: TokenUsage = TokenUsage()


class ModelError(RuntimeError):
    """The model could not be reached or refused; the message is for a person to act on."""


class Model(Protocol):
    name: str  # recorded in the job's usage, e.g. "gpt-4o-mini" or "offline-planner"

    async def next_turn(self, conversation: Conversation) -> ModelTurn: ...
