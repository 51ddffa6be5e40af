"""Grounded numbers: every number of an answer is looked up in the cells' outputs, allowing
for the rounding it was written with."""

from __future__ import annotations

from typing import Any

import pytest

from pyexec.worker.agent.grounding import numbers_in_answer, output_numbers, ungrounded_numbers


def display(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "display_data", "data": data, "metadata": {}}


OUTPUTS = [
    {"output_type": "stream", "name": "stdout", "text": "pearson r = 0.8712, p = 4.731e-88\n"},
    display({"application/json": {"mean": 3.4333333, "n": 150, "rows": 1234, "share": 0.1204}}),
    display({"text/plain": "   region  revenue\n0  North   41230.5"}),
]


def test_numbers_as_written_skip_names_and_dates() -> None:
    found = [w.text for w in numbers_in_answer(
        "Mean of `s1` is **3.43** on 2024-01-05 for class_0: 1,234 rows, 12% and p = 4.7e-88."
    )]
    assert found == ["3.43", "1,234", "12%", "4.7e-88"]


@pytest.mark.parametrize(
    "answer",
    [
        "The mean is **3.43** (n = 150 of 1,234 rows).",
        "r = 0.87, p = 4.73e-88",
        "12% of the rows (0.12)",
        "North: 41,230.5; mean 3.4",
        "The mean is 3.433.",
    ],
)
def test_rounded_numbers_are_grounded(answer: str) -> None:
    assert ungrounded_numbers(answer, OUTPUTS) == []


def test_invented_numbers_are_listed_once_as_written() -> None:
    answer = "The mean is 3.43, the median 2.91 (2.91 again) and the total 41,231.7."
    assert ungrounded_numbers(answer, OUTPUTS) == ["2.91", "41,231.7"]


def test_numbers_the_request_gave_are_not_invented() -> None:
    assert ungrounded_numbers("Rows with revenue above 5,000: 150", OUTPUTS) == ["5,000"]
    assert ungrounded_numbers("Rows with revenue above 5,000: 150", OUTPUTS, "above 5000") == []


def test_every_kind_of_output_is_read() -> None:
    numbers = output_numbers(OUTPUTS)
    assert {0.8712, 4.731e-88, 3.4333333, 150.0, 1234.0, 41230.5} <= set(numbers)
