"""Running questions: each data set is written as a CSV, loaded by the real inspection cell,
and every question about it is asked in the same kernel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pyexec.worker.agent.grounding import ungrounded_numbers
from tests.benchmarks.analyst.checking import judge
from tests.benchmarks.analyst.datasets import write_all
from tests.benchmarks.analyst.harness import Outcome, analyst
from tests.benchmarks.analyst.questions import REFUSE, Question


@dataclass
class Result:
    question: Question
    expected: tuple[Any, ...] | str
    outcome: Outcome
    verdict: str
    ungrounded: list[str]  # numbers of the answer found in no output of its cells


async def run_questions(questions: list[Question], folder: Path) -> list[Result]:
    paths = write_all(folder / "data")
    frames = {name: pd.read_csv(path) for name, path in paths.items()}
    results = []
    async with analyst(folder / "work") as a:
        for question in sorted(questions, key=lambda q: q.file):
            expected = (
                REFUSE if question.expected == REFUSE
                else question.expected(frames[question.file].copy())  # type: ignore[operator]
            )
            outcome = await a.ask(question.text, paths[question.file])
            verdict = judge(expected, outcome.answer, outcome.refusal, outcome.error)
            outputs = [o for step in outcome.steps for o in step.outputs]
            ungrounded = (
                ungrounded_numbers(outcome.answer, outputs, question.text)
                if outcome.answer else []
            )
            results.append(Result(question, expected, outcome, verdict, ungrounded))
    return results
