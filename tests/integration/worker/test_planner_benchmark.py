"""A fixed third of the analyst benchmark (tests/benchmarks/analyst), in the test suite: the
offline planner answers right or refuses, never wrong, never with an error, and states no
number its cells did not output. `make bench-analyst` runs every question."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.analyst.questions import QUESTIONS, REFUSE
from tests.benchmarks.analyst.run import Result, run_questions

SUBSET = QUESTIONS[::3]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[Result]:
    import asyncio

    return asyncio.run(run_questions(SUBSET, Path(tmp_path_factory.mktemp("analyst"))))


def describe(result: Result) -> str:
    outcome = result.outcome
    said = outcome.answer or outcome.refusal or outcome.error or ""
    return f"{result.question.id}: {result.question.text}\n  expected {result.expected}\n  {said}"


def test_the_subset_covers_refusals_and_every_data_set() -> None:
    assert sum(q.expected == REFUSE for q in SUBSET) >= 15
    assert len({q.file for q in SUBSET}) >= 10


def test_no_wrong_answer_and_no_error(results: list[Result]) -> None:
    bad = [r for r in results if r.verdict in ("wrong", "error")]
    assert bad == [], "\n".join(describe(r) for r in bad)


def test_every_number_of_every_answer_is_in_a_cell_output(results: list[Result]) -> None:
    flagged = [f"{r.question.id}: {r.ungrounded}" for r in results if r.ungrounded]
    assert flagged == []


def test_most_answerable_questions_are_answered(results: list[Result]) -> None:
    answerable = [r for r in results if r.question.expected != REFUSE]
    right = sum(r.verdict == "right" for r in answerable)
    assert right >= 0.6 * len(answerable)
