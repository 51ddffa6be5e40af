"""The final answer: what was not done first, then each step's numbers as read back from the
kernel, each with the rows it was computed over."""

from __future__ import annotations

from typing import Any

from pyexec.worker.agent.planner.measures import MEASURES, Ctx, scope
from pyexec.worker.agent.planner.plan import Plan, Step

NOT_DONE = (
    "the planner states the numbers and test verdicts it computed; it does not interpret or "
    "explain them"
)


def _ctx(step: Step) -> Ctx:
    return Ctx(
        query=step.query,
        table=step.query.table,
        base="",
        thresholds=list(step.thresholds),
    )


def section(step: Step, data: dict[str, Any]) -> str:
    ctx = _ctx(step)
    if step.kind == "state":
        said = [c.describe() for c in step.query.filters]
        said += [p.describe() for p in step.query.prep]
        said += [f"`{n}` = {e.name()}" for n, e in step.query.new_columns]
        for name, words in step.thresholds:
            if name in data:
                said.append(f"{words} = {ctx.f(data[name])}")
        return (
            f"Rows kept for the next steps: **{data['rows_used']} of {data['rows_before']}** "
            f"({'; '.join(said)})."
        )
    return MEASURES[step.kind].answer(ctx, data)


def compose_answer(planned: Plan, results: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    if planned.notes:
        asked = ", ".join(f"“{n}”" for n in planned.notes)
        parts.append(f"**Not done:** {asked} — {NOT_DONE}.")
    loose = {pair for step in planned.steps for pair in step.query.loose}
    sections = [section(s, d) for s, d in zip(planned.steps, results, strict=True)]
    parts += sections
    if loose:
        matched = ", ".join(f"“{said}” → `{column}`" for said, column in sorted(loose))
        parts.append(f"*Column names matched: {matched}.*")
    if planned.covered:
        said = "; ".join(f"“{c}”" for c in planned.covered)
        parts.append(f"*{said}: answered above.*")
    if planned.skipped:
        said = "; ".join(f"“{c}”" for c in planned.skipped)
        parts.append(f"*{said}: each computation above leaves out missing values and says how "
                     "many rows it used.*")
    return "\n\n".join(parts)


def step_prose(step: Step, index: int, total: int) -> str:
    title = step.code.splitlines()[0].removeprefix("# ")
    text = f"I'll compute: {title}." if step.kind != "state" else (
        "I'll keep the rows the request is about for the next steps."
    )
    if total > 1:
        text = f"**Step {index + 1} of {total}.** " + text
    if step.query.loose:
        matches = ", ".join(f"“{said}” → `{column}`" for said, column in step.query.loose)
        text += f" Column names matched: {matches}."
    return text


__all__ = ["compose_answer", "scope", "section", "step_prose"]
