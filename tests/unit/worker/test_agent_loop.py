"""The agent loop alone: a fake of the `AgentRun` seam and a scripted model, no kernel, no job.

The fake implements only the Protocol (run a cell, add markdown, cells, cancellation); the
loop is the project's real `Analyst`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyexec.kernels import Execution
from pyexec.notebooks import CellRecord
from pyexec.worker.agent import AgentLimits, AgentRun, AgentTask, AgentUsage, Analyst
from pyexec.worker.agent.loop import ANSWER_TAG
from pyexec.worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Conversation,
    ModelTurn,
    TokenUsage,
    ToolCall,
)


@dataclass
class FakeRun:
    """Runs no code: every cell prints what `printed` says."""

    printed: str = "42\n"
    cells: list[CellRecord] = field(default_factory=list)
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    timeouts: list[float] = field(default_factory=list)

    async def run_cell(
        self,
        source: str,
        timeout: float,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        cell_id: str | None = None,
        collect: bool = True,
    ) -> Execution:
        self.timeouts.append(timeout)
        now = datetime.now(UTC)
        outputs = [{"output_type": "stream", "name": "stdout", "text": self.printed}]
        self.cells.append(CellRecord(cell_type="code", source=source, outputs=outputs))
        return Execution("ok", outputs, len(self.cells), None, now, now, 1)

    async def add_markdown(
        self,
        source: str,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        cell_id: str | None = None,
    ) -> None:
        self.cells.append(CellRecord(cell_type="markdown", source=source, tags=list(tags or [])))


@dataclass
class ScriptedModel:
    turns: list[ModelTurn]
    name: str = "scripted"
    revises_answers: bool = False
    asked: int = 0

    async def next_turn(self, conversation: Conversation) -> ModelTurn:
        self.asked += 1
        return self.turns.pop(0)


class SilentModel:
    """Never answers: the loop must stop on cancellation, not wait for it."""

    name = "silent"

    async def next_turn(self, conversation: Conversation) -> ModelTurn:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def task(prompt: str = "What is the answer?", *, max_steps: int = 5) -> AgentTask:
    limits = AgentLimits(
        started=time.monotonic(), budget_seconds=600, max_steps=max_steps, cell_timeout_seconds=30
    )
    return AgentTask(job_id="job-1", prompt=prompt, files=(), parent=None, limits=limits)


def run_python(code: str) -> ToolCall:
    return ToolCall(id=f"c{len(code)}", name=RUN_PYTHON, arguments={"code": code})


def final(text: str) -> ToolCall:
    return ToolCall(id="f", name=FINAL_ANSWER, arguments={"text": text})


async def test_a_run_python_step_then_the_answer_with_its_usage() -> None:
    run = FakeRun()
    seam: AgentRun = run  # the fake satisfies the Protocol the loop is typed against
    model = ScriptedModel(
        [
            ModelTurn("Let me compute.", (run_python("print(6 * 7)"),), TokenUsage(100, 10)),
            ModelTurn(None, (final("The answer is 42."),), TokenUsage(150, 5)),
        ]
    )
    analyst = Analyst(seam, task(), model)
    assert await analyst.prepare() is None

    outcome = await analyst.answer()

    assert outcome.result == "The answer is 42." and outcome.error_message is None
    assert outcome.ungrounded_numbers == ()
    assert outcome.usage == AgentUsage(
        "scripted", steps=2, llm_prompt_tokens=250, llm_completion_tokens=15
    )
    assert [(c.cell_type, c.source) for c in run.cells] == [
        ("markdown", "Let me compute."),
        ("code", "print(6 * 7)"),
        ("markdown", "The answer is 42."),
    ]
    assert ANSWER_TAG in run.cells[-1].tags
    assert run.timeouts == [30]  # the per-cell timeout, well inside the job's budget


async def test_the_step_limit_fails_naming_it_and_still_reports_usage() -> None:
    run = FakeRun()
    model = ScriptedModel([ModelTurn(None, (run_python("1"),), TokenUsage(7, 1))] * 2)

    outcome = await Analyst(run, task(max_steps=2), model).answer()

    assert outcome.result is None
    assert outcome.error_message is not None and "PYEXEC_AGENT_MAX_STEPS=2" in outcome.error_message
    assert outcome.usage == AgentUsage("scripted", 2, 14, 2)


async def test_a_cancelled_run_stops_the_loop_waiting_for_the_model() -> None:
    run = FakeRun()
    analyst = Analyst(run, task(), SilentModel())

    answering = asyncio.create_task(analyst.answer())
    await asyncio.sleep(0)
    run.cancel_requested.set()
    outcome = await asyncio.wait_for(answering, timeout=30)

    assert outcome.cancelled
    assert outcome.usage == AgentUsage("silent")  # asked once, never answered: no tokens
