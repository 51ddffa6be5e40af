"""Loose matching of request words onto column names, and reading requests into templates."""

from __future__ import annotations

import pytest
from worker.agent.planner.names import best_column, find_mentions, phrase_score, stem, words
from worker.agent.planner.text import lex, rewrite, split_clauses


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("TotalRevenue", ("total", "revenue")),
        ("total_revenue", ("total", "revenue")),
        ("Total revenue", ("total", "revenue")),
        ("unitPrice", ("unit", "price")),
        ("HTTPStatus", ("http", "status")),
        ("temp-c", ("temp", "c")),
    ],
)
def test_column_names_split_into_words(name: str, expected: tuple[str, ...]) -> None:
    assert words(name) == expected


def test_plurals_become_singular() -> None:
    assert [stem(w) for w in ("units", "categories", "boxes", "status", "sales", "analysis")] == [
        "unit",
        "category",
        "box",
        "status",
        "sale",
        "analysis",
    ]


@pytest.mark.parametrize(
    ("said", "columns", "expected"),
    [
        ("revenue", ["Date", "Revenue", "Units"], "Revenue"),
        ("revenue", ["date", "total_revenue", "units"], "total_revenue"),
        ("revenue", ["revenue_per_unit_estimate", "total_revenue"], "total_revenue"),
        ("revenue", ["total_revenue", "revenue"], "revenue"),
        ("unit price", ["units", "unit_price"], "unit_price"),
        ("UnitPrice", ["units", "unit_price"], "unit_price"),
        ("temp", ["timestamp", "temperature"], "temperature"),
        ("revnue", ["region", "revenue"], "revenue"),
        ("categories", ["category", "price"], "category"),
        ("qty", ["quantity", "price"], "quantity"),
    ],
)
def test_best_column_matches_loosely(said: str, columns: list[str], expected: str) -> None:
    found = best_column(said, columns)
    assert found is not None and found[0] == expected


@pytest.mark.parametrize(
    ("said", "columns"),
    [
        ("profit", ["date", "revenue", "units"]),
        ("re", ["revenue"]),
        ("x", ["y", "z"]),
        ("month", ["monthly_income", "plan"]),  # a period, not the start of a name
    ],
)
def test_no_column_for_unrelated_words(said: str, columns: list[str]) -> None:
    assert best_column(said, columns) is None


def test_exact_names_score_higher_than_partial_ones() -> None:
    exact = phrase_score(("revenue",), ("revenue",))
    partial = phrase_score(("revenue",), ("total", "revenue"))
    prefix = phrase_score(("temp",), ("temperature",))
    assert exact == 1.0 > partial > prefix > 0
    assert phrase_score(("mean", "revenue"), ("revenue",)) == 0.0  # extra words name nothing


def tokens(text: str) -> list[str]:
    return [lx.text.lower() if lx.kind == "word" else "\x00" for lx in lex(text)]


def test_mentions_prefer_the_longest_best_match() -> None:
    columns = ["units", "unit_price", "revenue", "region"]
    found = find_mentions(tokens("average unit price and units by region"), columns)
    assert [m.column for m in found] == ["unit_price", "units", "region"]


def test_instruction_words_never_name_columns_alone() -> None:
    columns = ["count", "value", "mean_temp"]
    found = find_mentions(tokens("count the rows and show the mean value"), columns)
    assert [m.column for m in found] == []
    quoted = tokens('sum of "count" by region')
    assert [m.column for m in find_mentions(quoted, columns)] == []  # quotes are read elsewhere


def test_lexemes_keep_numbers_dates_quotes_and_files_apart() -> None:
    kinds = [
        (lx.kind, lx.value if lx.kind in ("number", "date", "op") else lx.text)
        for lx in lex(
            "rows of sales.csv where revenue >= 1,000 and date after 2024-3-01 or 'New York'"
        )
    ]
    assert kinds == [
        ("word", "rows"),
        ("word", "of"),
        ("file", "sales.csv"),
        ("word", "where"),
        ("word", "revenue"),
        ("op", ">="),
        ("number", 1000.0),
        ("word", "and"),
        ("word", "date"),
        ("word", "after"),
        ("date", "2024-03-01"),
        ("word", "or"),
        ("quoted", "New York"),
    ]
    assert [lx.value for lx in lex("$2.5k 10% 3m")] == [2500.0, 10.0, 3_000_000.0]


def test_rewrites_give_each_notion_one_spelling() -> None:
    assert rewrite("the standard deviation and avg of @0") == "std and average of @0"
    assert rewrite("plot @0 versus @1 over time") == "plot @0 vs @1 over_time"
    assert rewrite("top five rows") == "top 5 rows"
    assert rewrite("bar graph of nulls") == "bar plot of missing"
    assert rewrite("sort @0 from highest to lowest") == "sort @0 descending"
    assert rewrite("sort @0 from a to z oldest first") == "sort @0 ascending ascending"


@pytest.mark.parametrize(
    ("prompt", "clauses"),
    [
        (
            "Analyze the CSV file and return top 10 rows by revenue",
            ["Analyze the CSV file", "return top 10 rows by revenue"],
        ),
        (
            "Calculate the mean, median, and std for all numeric columns",
            ["Calculate the mean, median, and std for all numeric columns"],
        ),
        (
            "Show the first 5 rows. Then plot revenue by region; count missing values",
            ["Show the first 5 rows", "plot revenue by region", "count missing values"],
        ),
        ("sort by revenue and then show the first 20", ["sort by revenue", "show the first 20"]),
        ("sort by region, then revenue", ["sort by region, then revenue"]),
        ("sort by region, then plot revenue", ["sort by region", "plot revenue"]),
        ('rows where note is "a. b; c"', ['rows where note is "a. b; c"']),
        ("revenue > 1.5 and units < 3", ["revenue > 1.5 and units < 3"]),
    ],
)
def test_requests_split_into_clauses(prompt: str, clauses: list[str]) -> None:
    assert split_clauses(prompt) == clauses
