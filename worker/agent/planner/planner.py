"""`OfflinePlanner`: the `Model` that needs no language model.

Each turn re-plans from the prompt and the files (planning is deterministic), finds which of
its steps already ran, and either asks for the next one or answers from the numbers the
steps displayed. A step that failed ends the job: rules cannot fix their own code.
"""

from __future__ import annotations

from typing import Any

from worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Conversation,
    ModelError,
    ModelTurn,
    StepResult,
    ToolCall,
)
from worker.agent.planner.plan import Planned, plan
from worker.agent.planner.recipes.base import RESULT_KEY, Recipe


class OfflinePlanner:
    name = "offline-planner"

    async def next_turn(self, conversation: Conversation) -> ModelTurn:
        planned = plan(conversation.prompt, conversation.files)
        results = _results_so_far(planned, conversation.steps)
        done = len(results)
        if done < len(planned):
            step = planned[done]
            call = ToolCall(f"planner-{done + 1}", RUN_PYTHON, {"code": step.recipe.code()})
            return ModelTurn(text=_prose(step, done, len(planned)), tool_calls=(call,))
        answer = "\n\n".join(_section(p, data) for p, data in zip(planned, results, strict=True))
        return ModelTurn(
            text=None, tool_calls=(ToolCall("planner-answer", FINAL_ANSWER, {"text": answer}),)
        )


def _results_so_far(planned: list[Planned], steps: list[StepResult]) -> list[dict[str, Any]]:
    """The numbers each planned step displayed, for the steps that ran (in order)."""
    results: list[dict[str, Any]] = []
    for step in steps:
        if len(results) == len(planned):
            break
        recipe = planned[len(results)].recipe
        if step.code.strip() != recipe.code().strip():
            continue  # a cell of the job's own code, or a parent's
        if step.status != "ok":
            detail = step.error or f"the cell ended with status {step.status}"
            raise ModelError(f"step {len(results) + 1} ({recipe.title()}) failed: {detail}")
        results.append(read_result(recipe, step.outputs))
    return results


def read_result(recipe: Recipe, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON the recipe's code displayed last."""
    for output in reversed(outputs):
        data = output.get("data") or {}
        payload = data.get("application/json")
        if isinstance(payload, dict) and payload.get(RESULT_KEY) == recipe.kind:
            return payload
    raise ModelError(f"step “{recipe.title()}” ran but displayed no result to read back")


def _unused_note(step: Planned) -> str:
    words = ", ".join(f"“{w}”" for w in step.unused)
    return f"Not used from the request: {words}." if words else ""


def _section(step: Planned, data: dict[str, Any]) -> str:
    """One step's part of the answer; words it could not place are said, not silently lost."""
    note = _unused_note(step)
    return step.recipe.answer(data) + (f"\n\n*{note}*" if note else "")


def _prose(step: Planned, index: int, total: int) -> str:
    intent = step.recipe.intent()
    text = f"I'll {intent}."
    if total > 1:
        text = f"**Step {index + 1} of {total}.** " + text
    if step.loose_names:
        matches = ", ".join(f"“{said}” → `{column}`" for said, column in step.loose_names)
        text += f" Column names matched: {matches}."
    if step.unused:
        text += f" {_unused_note(step)}"
    return text
