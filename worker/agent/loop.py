"""The agent loop: a model writes cells, the job's kernel runs them, the outputs go back.

`Analyst` drives a run through `AgentRun` (run a cell, add markdown, see cancellation) — so
cancellation, timeouts, outputs and events behave exactly as for code jobs, and the loop knows
nothing else of the run. It ends at `final_answer`, or fails naming the limit it hit: the step
limit (`PYEXEC_AGENT_MAX_STEPS`), the job's time budget, or the per-cell timeout
(`PYEXEC_AGENT_CELL_TIMEOUT`). Every cell run so far stays in the notebook either way; what the
model spent comes back in the outcome's `usage`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from pyexec.kernels import Execution, strip_ansi
from pyexec.worker.agent.followup import (
    FOLLOW_UP_TAG,
    PARENT_TAG,
    ParentRun,
    cells_as_text,
    earlier_heading,
    follow_up_heading,
    tags_of,
)
from pyexec.worker.agent.grounding import revision_request, ungrounded_note, ungrounded_numbers
from pyexec.worker.agent.inspection import (
    INSPECTION_METADATA,
    INSPECTION_TAG,
    inspection_code,
    parse_inspection,
)
from pyexec.worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Conversation,
    FileSummary,
    Model,
    ModelError,
    ModelTurn,
    StepResult,
    ToolCall,
)
from pyexec.worker.agent.prompts import LAST_STEP, NUDGE
from pyexec.worker.agent.summary import TRACEBACK_CHARS, clip, summarise_execution
from pyexec.worker.agent.task import AgentRun, AgentTask, AgentUsage, JobCancelled

log = logging.getLogger("pyexec.agent")

ANSWER_TAG = "pyexec-answer"


@dataclass(frozen=True)
class AgentOutcome:
    result: str | None = None
    error_message: str | None = None
    cancelled: bool = False
    ungrounded_numbers: tuple[str, ...] = ()  # numbers of `result` found in no cell's output
    usage: AgentUsage | None = None  # None: the model was never asked


class _Stop(Exception):
    def __init__(self, outcome: AgentOutcome) -> None:
        super().__init__(outcome.error_message)
        self.outcome = outcome


class Analyst:
    """One job's analyst: replays a parent, inspects the files, then runs the model's turns."""

    def __init__(self, run: AgentRun, task: AgentTask, model: Model) -> None:
        self.run = run
        self.task = task
        self.model = model
        self.budget = task.limits.budget_seconds
        self.deadline = task.limits.deadline
        self.max_steps = task.limits.max_steps
        self.cell_timeout = task.limits.cell_timeout_seconds
        self.files: list[FileSummary] = []
        self.usage = AgentUsage(model.name)

    # -- before the job's code -----------------------------------------------------------

    async def prepare(self) -> AgentOutcome | None:
        """Replay the parent's cells and describe the files; an outcome means: stop here."""
        try:
            if self.task.parent is not None:
                await self._replay(self.task.parent)
            if self.task.prompt:
                await self._inspect()
        except _Stop as stop:
            return stop.outcome
        except JobCancelled:
            return AgentOutcome(cancelled=True)
        return None

    async def _replay(self, parent: ParentRun) -> None:
        if parent.job is None:
            raise _Stop(AgentOutcome(error_message=f"the parent job {parent.job_id} is gone"))
        await self.run.add_markdown(earlier_heading(parent.job), tags=[PARENT_TAG])
        for cell in parent.cells:
            if cell.cell_type == "markdown":
                await self.run.add_markdown(
                    cell.source, tags=cell.tags, metadata=cell.metadata, cell_id=cell.cell_id
                )
                continue
            # Errors replay as they happened; only a kernel that cannot go on stops the job.
            await self._code(
                cell.source,
                "replaying the parent's cells",
                tags=cell.tags,
                metadata=cell.metadata,
                cell_id=cell.cell_id,
                collect=False,
            )
        await self.run.add_markdown(follow_up_heading(self.task.prompt), tags=[FOLLOW_UP_TAG])

    async def _inspect(self) -> None:
        known: dict[str, FileSummary] = {}
        for cell in self.run.cells:  # a replayed parent already described its files
            if cell.cell_type == "code" and INSPECTION_TAG in tags_of(cell):
                known.update((f.name, f) for f in parse_inspection(cell.outputs) or [])
        new = [f for f in self.task.files if f.name not in known]
        if new:
            taken = {f.variable for f in known.values() if f.variable}
            if self.task.parent is not None:
                taken.add("df")  # the parent's own code may have used the short name
            execution = await self._code(
                inspection_code(new, taken),
                "inspecting the input files",
                tags=[INSPECTION_TAG],
                metadata=INSPECTION_METADATA,
            )
            found = parse_inspection(execution.outputs)
            if found is None:
                log.warning("job %s: the inspection cell reported nothing", self.task.job_id)
                found = [FileSummary(f.name, f.bytes, "other") for f in new]
            known.update((f.name, f) for f in found)
        staged = [f.name for f in self.task.files]
        self.files = [known[name] for name in staged if name in known]

    # -- after the job's code ------------------------------------------------------------

    async def answer(self) -> AgentOutcome:
        earlier = [c for c in self.run.cells if INSPECTION_TAG not in tags_of(c)]
        conversation = Conversation(
            prompt=self.task.prompt or "",
            files=list(self.files),
            parent_transcript=cells_as_text(earlier) if earlier else None,
        )
        try:
            outcome = await self._converse(conversation)
        except _Stop as stop:
            outcome = stop.outcome
        except JobCancelled:
            outcome = AgentOutcome(cancelled=True)
        # What the model spent counts however the loop ended.
        return replace(outcome, usage=self.usage)

    async def _converse(self, conversation: Conversation) -> AgentOutcome:
        model = self.model
        # A model is asked once to correct or justify numbers no cell printed (the planner
        # writes answers only from what its cells displayed, so it is not asked).
        revise = getattr(model, "revises_answers", True)
        for step in range(1, self.max_steps + 1):
            turn = await self._ask(model, conversation)
            self.usage = AgentUsage(
                model.name,
                steps=step,
                llm_prompt_tokens=self.usage.llm_prompt_tokens + turn.usage.prompt_tokens,
                llm_completion_tokens=self.usage.llm_completion_tokens
                + turn.usage.completion_tokens,
            )
            if turn.text and turn.text.strip():
                await self.run.add_markdown(turn.text.strip())
            conversation.messages.append(_assistant_message(turn))
            if not turn.tool_calls:
                conversation.messages.append({"role": "user", "content": NUDGE})
            for call in turn.tool_calls:
                answer = _final_text(call)
                if answer is not None:
                    ungrounded = self._ungrounded(answer)
                    if ungrounded and revise and step < self.max_steps:
                        revise = False
                        reply = revision_request(ungrounded)
                    else:
                        return await self._finish(answer, ungrounded)
                else:
                    reply = await self._tool(call, conversation)
                conversation.messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": reply}
                )
            if step == self.max_steps - 1:
                last = conversation.messages[-1]
                last["content"] = f"{last['content']}\n\n{LAST_STEP}"
        return AgentOutcome(
            error_message=f"stopped after {self.max_steps} steps without a final answer "
            f"(the step limit, PYEXEC_AGENT_MAX_STEPS={self.max_steps})"
        )

    def _ungrounded(self, answer: str) -> list[str]:
        outputs = [o for cell in self.run.cells if cell.cell_type == "code" for o in cell.outputs]
        return ungrounded_numbers(answer, outputs, self.task.prompt or "")

    async def _finish(self, answer: str, ungrounded: list[str]) -> AgentOutcome:
        cell = answer + (ungrounded_note(ungrounded) if ungrounded else "")
        metadata = {"pyexec": {"ungrounded_numbers": ungrounded}} if ungrounded else None
        await self.run.add_markdown(cell, tags=[ANSWER_TAG], metadata=metadata)
        return AgentOutcome(result=answer, ungrounded_numbers=tuple(ungrounded))

    async def _ask(self, model: Model, conversation: Conversation) -> ModelTurn:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Stop(self._out_of_time("before the model's next step"))
        asking = asyncio.create_task(model.next_turn(conversation))
        cancelled = asyncio.create_task(self.run.cancel_requested.wait())
        try:
            await asyncio.wait(
                {asking, cancelled}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            asking.cancel()  # the worker is shutting down: no request may outlive the job
            raise
        finally:
            cancelled.cancel()
        if not asking.done():
            asking.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asking
            if self.run.cancel_requested.is_set():
                raise _Stop(AgentOutcome(cancelled=True))
            raise _Stop(self._out_of_time("waiting for the model"))
        try:
            return asking.result()
        except ModelError as exc:
            raise _Stop(AgentOutcome(error_message=str(exc))) from None

    async def _tool(self, call: ToolCall, conversation: Conversation) -> str:
        if call.name == FINAL_ANSWER:
            return f"`{FINAL_ANSWER}` needs a non-empty `text` argument."
        if call.name != RUN_PYTHON:
            return f"There is no tool `{call.name}`; use `{RUN_PYTHON}` or `{FINAL_ANSWER}`."
        code = call.arguments.get("code")
        if not isinstance(code, str) or not code.strip():
            return f"`{RUN_PYTHON}` needs a non-empty `code` argument (a string of Python)."
        execution = await self._code(code, "running the model's code")
        summary = summarise_execution(execution)
        conversation.steps.append(
            StepResult(
                code=code,
                status=execution.status,
                outputs=execution.outputs,
                summary=summary,
                error=_error_text(execution),
            )
        )
        return summary

    # -- cells ---------------------------------------------------------------------------

    async def _code(self, source: str, doing: str, **cell: Any) -> Execution:
        """Run a cell within both the per-cell and the job's limits; stop if either is hit."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Stop(self._out_of_time(doing))
        timeout = min(self.cell_timeout, remaining)
        execution = await self.run.run_cell(source, timeout, **cell)
        if execution.status == "timeout":
            if timeout < remaining:
                raise _Stop(
                    AgentOutcome(
                        error_message=f"cell {len(self.run.cells)} timed out after "
                        f"{self.cell_timeout:g} s (the per-cell timeout, "
                        "PYEXEC_AGENT_CELL_TIMEOUT)"
                    )
                )
            raise _Stop(self._out_of_time(doing))
        if execution.status == "died":
            message = execution.error.message if execution.error else "kernel died"
            raise _Stop(AgentOutcome(error_message=f"{message} ({doing})"))
        return execution

    def _out_of_time(self, doing: str) -> AgentOutcome:
        return AgentOutcome(
            error_message=f"timed out after {self.budget:g} s (the job's time budget, "
            f"timeout_seconds) {doing}"
        )


def _final_text(call: ToolCall) -> str | None:
    if call.name != FINAL_ANSWER:
        return None
    text = call.arguments.get("text")
    return text.strip() if isinstance(text, str) and text.strip() else None


def _assistant_message(turn: ModelTurn) -> dict[str, Any]:
    # An assistant message needs content or tool calls; an empty reply still takes its turn.
    content = turn.text or (None if turn.tool_calls else "")
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": json.dumps(call.arguments, ensure_ascii=False),
                },
            }
            for call in turn.tool_calls
        ]
    return message


def _error_text(execution: Execution) -> str | None:
    error = execution.error
    if execution.status != "error" or error is None:
        return None
    traceback = strip_ansi("\n".join(error.traceback))
    return f"{error.message}\n{clip(traceback, TRACEBACK_CHARS)}".rstrip()
