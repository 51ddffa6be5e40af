"""`OfflinePlanner`: the `Model` that needs no language model.

Its first cell looks at the values of the tables' columns (the profile); then each turn
re-plans from the prompt, the files and the profile (planning is deterministic), finds which
of its steps already ran, and either asks for the next one or answers from the numbers the
steps displayed. A step that failed ends the job: rules cannot fix their own code.
"""

from __future__ import annotations

import json
from typing import Any

from pyexec.worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Conversation,
    FileSummary,
    ModelError,
    ModelTurn,
    StepResult,
    ToolCall,
)
from pyexec.worker.agent.planner.answers import compose_answer, step_prose
from pyexec.worker.agent.planner.compiler import RESULT_KEY
from pyexec.worker.agent.planner.kernel_code import PROFILE_MIME, profile_cell
from pyexec.worker.agent.planner.parser import PlanError
from pyexec.worker.agent.planner.plan import CAPABILITIES, Plan, Step, plan
from pyexec.worker.agent.planner.tables import with_profile


class OfflinePlanner:
    name = "offline-planner"
    revises_answers = False  # its answers quote only what its cells displayed

    def __init__(self) -> None:
        # A job's turns re-plan the same request: planned once, looked up after.
        self._plans: dict[str, Plan] = {}

    async def next_turn(self, conversation: Conversation) -> ModelTurn:
        summaries = [f for f in conversation.files if f.kind == "table" and f.variable]
        if not summaries:
            raise PlanError(_no_tables(conversation.files))
        profile_code = profile_cell([f.variable or "" for f in summaries])
        profiled = _ran(profile_code, conversation.steps)
        if profiled is None:
            call = ToolCall("planner-profile", RUN_PYTHON, {"code": profile_code})
            text = "I'll look at the values of the columns before reading the request."
            return ModelTurn(text=text, tool_calls=(call,))
        profiles = _profiles(profiled)
        tables = [with_profile(f, profiles.get(f.variable or "")) for f in summaries]
        key = json.dumps([conversation.prompt, [repr(f) for f in summaries], profiles],
                         sort_keys=True, default=str)
        planned = self._plans.get(key)
        if planned is None:
            planned = plan(conversation.prompt, tables)
            if len(self._plans) >= 64:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = planned
        results = _results_so_far(planned, conversation.steps)
        done = len(results)
        if done < len(planned.steps):
            step = planned.steps[done]
            call = ToolCall(f"planner-{done + 1}", RUN_PYTHON, {"code": step.code})
            return ModelTurn(text=step_prose(step, done, len(planned.steps)), tool_calls=(call,))
        answer = compose_answer(planned, results)
        return ModelTurn(
            text=None, tool_calls=(ToolCall("planner-answer", FINAL_ANSWER, {"text": answer}),)
        )


def _no_tables(files: list[FileSummary]) -> str:
    unreadable = [f"{f.name} ({f.error})" for f in files if f.error]
    detail = f" ({'; '.join(unreadable)})" if unreadable else ""
    return (
        "The offline planner works on tables (CSV, TSV, Excel, Parquet, JSON lines) and "
        f"this job has none{detail}: upload a file (POST /v1/files) and list its id in the "
        f"job's file_ids.\n\n{CAPABILITIES}"
    )


def _ran(code: str, steps: list[StepResult]) -> StepResult | None:
    for step in steps:
        if step.code.strip() == code.strip():
            if step.status != "ok":
                detail = step.error or f"the cell ended with status {step.status}"
                raise ModelError(f"looking at the columns' values failed: {detail}")
            return step
    return None


def _profiles(step: StepResult) -> dict[str, Any]:
    for output in step.outputs:
        data = output.get("data") or {}
        profile = data.get(PROFILE_MIME)
        if isinstance(profile, dict):
            return profile
    raise ModelError("looking at the columns' values displayed nothing to read back")


def _results_so_far(planned: Plan, steps: list[StepResult]) -> list[dict[str, Any]]:
    """The numbers each planned step displayed, for the steps that ran (in order)."""
    results: list[dict[str, Any]] = []
    for step in steps:
        if len(results) == len(planned.steps):
            break
        wanted = planned.steps[len(results)]
        if step.code.strip() != wanted.code.strip():
            continue  # a cell of the job's own code, a parent's, or the profile
        if step.status != "ok":
            detail = step.error or f"the cell ended with status {step.status}"
            raise ModelError(f"step {len(results) + 1} ({_title(wanted)}) failed: {detail}")
        results.append(read_result(wanted, step.outputs))
    return results


def _title(step: Step) -> str:
    first = step.code.splitlines()[0]
    return first.removeprefix("# ")


def read_result(step: Step, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON the step's code displayed last."""
    for output in reversed(outputs):
        data = output.get("data") or {}
        payload = data.get("application/json")
        if isinstance(payload, dict) and payload.get(RESULT_KEY) == step.kind:
            return payload
    raise ModelError(f"step “{_title(step)}” ran but displayed no result to read back")
