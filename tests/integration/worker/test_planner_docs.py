"""Every example of docs/prompts.md, run end to end in a real kernel: the answered ones answer
(with no number their cells did not output), the refused ones refuse."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyexec.worker.agent.grounding import ungrounded_numbers
from tests.benchmarks.analyst.datasets import write_all
from tests.benchmarks.analyst.harness import Outcome, analyst

PAGE = Path(__file__).resolve().parents[3] / "docs" / "prompts.md"
_EXAMPLE = re.compile(r"^- `(?P<prompt>[^`]+)` — \*(?P<file>[\w.]+)\*(?P<refused> \(refused)?",
                      re.M)


@dataclass(frozen=True)
class Example:
    prompt: str
    file: str
    refused: bool


EXAMPLES = [
    Example(m["prompt"], m["file"], bool(m["refused"]))
    for m in _EXAMPLE.finditer(PAGE.read_text(encoding="utf-8"))
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[Example, Outcome]:
    folder = Path(tmp_path_factory.mktemp("docs"))
    paths = write_all(folder / "data")

    async def run() -> dict[Example, Outcome]:
        found = {}
        async with analyst(folder / "work") as a:
            for example in sorted(EXAMPLES, key=lambda e: e.file):
                found[example] = await a.ask(example.prompt, paths[example.file])
        return found

    return asyncio.run(run())


def test_the_page_has_examples_of_both_kinds() -> None:
    assert len([e for e in EXAMPLES if not e.refused]) >= 30
    assert len([e for e in EXAMPLES if e.refused]) >= 5


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.prompt[:50])
def test_example(example: Example, outcomes: dict[Example, Outcome]) -> None:
    outcome = outcomes[example]
    assert outcome.error is None, outcome.error
    if example.refused:
        assert outcome.refusal is not None, outcome.answer
        return
    assert outcome.answer is not None, outcome.refusal
    outputs = [o for step in outcome.steps for o in step.outputs]
    assert ungrounded_numbers(outcome.answer, outputs, example.prompt) == []
