"""Column names matched honestly: abbreviations and synonyms match, a word that matches
nothing well enough matches nothing, and a word that would change a column's meaning is
never dropped to make a match."""

from __future__ import annotations

import pytest

from pyexec.worker.agent.planner.columns import MIN_SCORE, find_mentions, phrase_score, words


def best(said: str, columns: list[str]) -> str | None:
    mentions = find_mentions(said.lower().split(), columns)
    return mentions[0].column if len(mentions) == 1 else None


@pytest.mark.parametrize(
    ("said", "columns", "expected"),
    [
        ("population", ["pop", "gdp"], "pop"),
        ("mpg", ["Miles_per_Gallon", "Horsepower"], "Miles_per_Gallon"),
        ("miles per gallon", ["mpg", "hp"], "mpg"),
        ("unit price", ["units", "unit_price", "price_rank"], "unit_price"),
        ("temperature", ["temp_max", "temperature_c"], "temperature_c"),
        ("min temperature", ["temp_min", "temp_max"], "temp_min"),
        ("hs grad", ["hs_grad", "poverty"], "hs_grad"),
        ("humidity", ["humidity_pct"], "humidity_pct"),
    ],
)
def test_names_people_use_find_the_column(said: str, columns: list[str], expected: str) -> None:
    assert best(said, columns) == expected


@pytest.mark.parametrize(
    ("said", "columns"),
    [
        ("passengers", ["PassengerId", "Survived"]),  # the id is not the passengers
        ("price", ["price_rank"]),
        ("county", ["country", "count"]),
        ("salesperson", ["sales", "person_id"]),
        ("particular", ["part", "article"]),
        ("revnue", ["revenue"]),  # a misspelt name is refused, not guessed
    ],
)
def test_a_word_that_matches_nothing_well_matches_nothing(said: str, columns: list[str]) -> None:
    assert find_mentions(said.split(), columns) == []


def test_an_instruction_word_alone_never_names_a_column() -> None:
    assert find_mentions(["count"], ["count", "value"]) == []
    assert find_mentions(["count"], ["count"], quoted=frozenset({0}))[0].column == "count"


def test_scores() -> None:
    assert words("TotalRevenue") == ("total", "revenue")
    assert phrase_score(("revenue",), ("revenue",)) == 1.0
    assert phrase_score(("revenue",), ("total", "revenue")) > MIN_SCORE
    assert phrase_score(("revenue",), ("revenue", "id")) == 0.0
