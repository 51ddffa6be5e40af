"""The offline planner against the CSVs in tests/data, with its code run in a real kernel.

The files are staged and described by the real inspection cell, the planner's cells run in a
real kernel, and every number its final answer states is compared with pandas computed here,
independently, from the same CSV. Each supported request is asked at least three ways.

One kernel serves the module: the planner never rebinds the loaded tables, and each request
sees only the summary of the file it is about (or all three, to test the choice of file).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import pytest_asyncio

from kernels import Kernel, KernelPool, LocalLauncher
from worker.agent.inspection import inspection_code, parse_inspection
from worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Conversation,
    FileSummary,
    ModelError,
    StepResult,
)
from worker.agent.planner import OfflinePlanner
from worker.inputs import StagedFile

pytestmark = pytest.mark.asyncio(loop_scope="module")

DATA = Path(__file__).resolve().parents[2] / "data"
SALES = pd.read_csv(DATA / "sales.csv")
SENSORS = pd.read_csv(DATA / "sensors.csv")
CUSTOMERS = pd.read_csv(DATA / "customers.csv")
MAX_TURNS = 6


@dataclass
class Analysis:
    answer: str
    steps: list[StepResult]

    def tables(self) -> list[list[dict[str, str]]]:
        return markdown_tables(self.answer)

    def table(self) -> list[dict[str, str]]:
        (table,) = self.tables()
        return table

    @property
    def images(self) -> int:
        return sum(1 for s in self.steps for o in s.outputs if "image/png" in (o.get("data") or {}))


@dataclass
class Session:
    kernel: Kernel
    files: dict[str, FileSummary]

    async def ask(self, prompt: str, *names: str) -> Analysis:
        """Drive the planner as the agent loop does: run each cell, hand back the results."""
        planner = OfflinePlanner()
        conversation = Conversation(prompt=prompt, files=[self.files[n] for n in names])
        for _ in range(MAX_TURNS):
            turn = await planner.next_turn(conversation)
            (call,) = turn.tool_calls
            if call.name == FINAL_ANSWER:
                return Analysis(call.arguments["text"], conversation.steps)
            assert call.name == RUN_PYTHON
            code = call.arguments["code"]
            execution = await self.kernel.execute(code, timeout=60)
            error = execution.error.message if execution.error else None
            conversation.steps.append(
                StepResult(code, execution.status, execution.outputs, "", error)
            )
        raise AssertionError(f"no answer after {MAX_TURNS} turns")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Session]:
    pool = KernelPool(
        size=1,
        launcher=LocalLauncher(python=sys.executable),
        work_root=tmp_path_factory.mktemp("planner-work"),
        start_timeout=60,
        interrupt_grace=1.0,
    )
    await pool.start()
    try:
        async with pool.lease() as kernel:
            staged = []
            for name in ("sales.csv", "sensors.csv", "customers.csv"):
                size = await kernel.files.put(name, DATA / name)
                staged.append(StagedFile(name, size, "text/csv"))
            execution = await kernel.execute(inspection_code(staged), timeout=60)
            assert execution.status == "ok", execution.error
            found = parse_inspection(execution.outputs)
            assert found is not None
            yield Session(kernel, {f.name: f for f in found})
    finally:
        await pool.close()


# --- reading the answers -------------------------------------------------------------------


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    tables: list[list[dict[str, str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if (
            lines[i].startswith("|")
            and i + 1 < len(lines)
            and re.match(r"^\|[-:|]+\|$", lines[i + 1])
        ):
            header = [c.strip() for c in lines[i].strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip("|").split("|")]
                rows.append(dict(zip(header, cells, strict=True)))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def number(text: str) -> float:
    return float(text.replace(",", "").strip("*"))


def close(said: str | float, expected: float) -> bool:
    """Answers round to 2 decimals (4 significant digits below 1)."""
    value = number(said) if isinstance(said, str) else said
    return math.isclose(value, float(expected), rel_tol=5e-4, abs_tol=0.0051)


def bold_numbers(text: str) -> list[float]:
    return [number(m) for m in re.findall(r"\*\*(?:r = )?(-?[\d.,]+)[^*]*\*\*", text)]


def column(rows: list[dict[str, str]], name: str) -> list[float]:
    return [number(r[name]) for r in rows]


# --- preview, shape ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "n"),
    [
        ("show the first 5 rows", 5),
        ("preview the data", 5),
        ("What does the file look like?", 5),
        ("display the first 8 rows of sales.csv", 8),
    ],
)
async def test_preview(session: Session, prompt: str, n: int) -> None:
    result = await session.ask(prompt, "sales.csv")
    rows = result.table()
    expected = SALES.head(n)
    assert column(rows, "order_id") == expected["order_id"].tolist()
    assert column(rows, "revenue") == expected["revenue"].tolist()
    assert [r["date"] for r in rows] == expected["date"].tolist()
    assert "200 rows" in result.answer and "8 columns" in result.answer


async def test_last_rows(session: Session) -> None:
    result = await session.ask("show me the last 3 rows", "sales.csv")
    assert column(result.table(), "order_id") == SALES.tail(3)["order_id"].tolist()


@pytest.mark.parametrize(
    "prompt",
    [
        "how many rows and columns are there?",
        "What is the shape of the dataset?",
        "list the columns and their data types",
    ],
)
async def test_shape_and_columns(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "customers.csv")
    assert f"**{len(CUSTOMERS)} rows**" in result.answer
    assert f"**{CUSTOMERS.shape[1]} columns**" in result.answer
    rows = result.table()
    assert [r["column"] for r in rows] == CUSTOMERS.columns.tolist()
    assert [r["dtype"] for r in rows] == [str(t) for t in CUSTOMERS.dtypes]
    assert column(rows, "missing") == CUSTOMERS.isna().sum().tolist()


# --- statistics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "Calculate the mean, median, and std for all numeric columns",
        "give me the average, median and standard deviation of every numeric column",
        "mean/median/stdev of the numbers",
    ],
)
async def test_mean_median_std_of_every_numeric_column(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    numbers = SALES.select_dtypes(include="number")
    rows = {r["column"]: r for r in result.table()}
    assert list(rows) == numbers.columns.tolist()
    for name in numbers.columns:
        assert close(rows[name]["mean"], numbers[name].mean())
        assert close(rows[name]["median"], numbers[name].median())
        assert close(rows[name]["std"], numbers[name].std())


@pytest.mark.parametrize(
    "prompt", ["summary statistics", "describe the data", "descriptive stats of the readings"]
)
async def test_summary_statistics(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sensors.csv")
    described = SENSORS.describe().T
    rows = {r["column"]: r for r in result.table()}
    assert list(rows) == described.index.tolist()
    for name, stats in described.iterrows():
        for header, key in [("count", "count"), ("mean", "mean"), ("std", "std"), ("min", "min")]:
            assert close(rows[name][header], stats[key])
        assert close(rows[name]["25%"], stats["25%"])
        assert close(rows[name]["median"], stats["50%"])
        assert close(rows[name]["75%"], stats["75%"])
        assert close(rows[name]["max"], stats["max"])


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("total revenue", SALES["revenue"].sum()),
        ("what is the highest revenue?", SALES["revenue"].max()),
        ("minimum unit price", SALES["unit_price"].min()),
        ("90th percentile of revenue", SALES["revenue"].quantile(0.9)),
        (
            "average revenue in the North region",
            SALES.loc[SALES["region"] == "North", "revenue"].mean(),
        ),
    ],
)
async def test_one_statistic_of_one_column(session: Session, prompt: str, expected: float) -> None:
    result = await session.ask(prompt, "sales.csv")
    (said,) = bold_numbers(result.answer)
    assert close(said, expected)


@pytest.mark.parametrize(
    "prompt", ["mean age", "average age of the customers", "what's the mean of age?"]
)
async def test_numbers_stored_as_text_are_read_as_numbers(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "customers.csv")
    ages = pd.to_numeric(CUSTOMERS["age"], errors="coerce")
    (said,) = bold_numbers(result.answer)
    assert close(said, ages.mean())
    unreadable = int(CUSTOMERS["age"].notna().sum() - ages.notna().sum())
    assert f"{unreadable} values that are not a number were left out" in result.answer


# --- top N, sort, filter -------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "Analyze the CSV file and return top 10 rows by revenue",
        "10 rows with the highest revenue",
        "show the ten largest orders by revenue",
    ],
)
async def test_top_rows(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    expected = SALES.sort_values("revenue", ascending=False, kind="stable").head(10)
    rows = result.table()
    assert column(rows, "revenue") == expected["revenue"].tolist()
    assert column(rows, "order_id") == expected["order_id"].tolist()
    assert f"is {expected['revenue'].iloc[0]:g}" in result.answer


@pytest.mark.parametrize(
    "prompt",
    ["bottom 5 rows by units", "the 5 smallest orders by units", "5 rows with the lowest units"],
)
async def test_bottom_rows(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    expected = SALES.sort_values("units", kind="stable").head(5)
    assert column(result.table(), "order_id") == expected["order_id"].tolist()


@pytest.mark.parametrize(
    "prompt",
    [
        "top 3 products by total revenue",
        "which 3 products have the highest revenue?",
        "the 3 best products by revenue",
    ],
)
async def test_top_groups(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    expected = SALES.groupby("product")["revenue"].sum().nlargest(3)
    rows = result.table()
    assert [r["product"] for r in rows] == expected.index.tolist()
    assert all(close(r["revenue (sum)"], v) for r, v in zip(rows, expected, strict=True))


async def test_which_group_is_highest(session: Session) -> None:
    result = await session.ask("which region has the highest average revenue", "sales.csv")
    means = SALES.groupby("region")["revenue"].mean()
    assert f"**{means.idxmax()}** ({means.max():.2f}" in result.answer


@pytest.mark.parametrize(
    "prompt",
    [
        "sort by revenue descending",
        "order the rows by revenue from highest to lowest",
        "arrange the data by revenue in descending order",
    ],
)
async def test_sort(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    expected = SALES.sort_values("revenue", ascending=False, kind="stable").head(10)
    assert column(result.table(), "order_id") == expected["order_id"].tolist()
    assert "first 10 of 200 rows" in result.answer


@pytest.mark.parametrize(
    "prompt",
    [
        "rows where revenue > 1000",
        "show orders with revenue greater than 1000",
        "filter revenue above 1,000",
    ],
)
async def test_filter_by_a_number(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    matching = SALES[SALES["revenue"] > 1000]
    share = round(len(matching) / len(SALES) * 100, 2)
    assert f"**{len(matching)} of {len(SALES)} rows** ({share:g}%)" in result.answer
    assert column(result.table(), "order_id") == matching.head(10)["order_id"].tolist()


@pytest.mark.parametrize(
    "prompt", ["orders in the West region", "rows where region is 'West'", "filter region = West"]
)
async def test_filter_by_a_value(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    matching = SALES[SALES["region"] == "West"]
    assert f"**{len(matching)} of {len(SALES)} rows**" in result.answer
    assert {r["region"] for r in result.table()} == {"West"}


async def test_filter_by_date_and_missing_values(session: Session) -> None:
    result = await session.ask("orders after 2024-06-01", "sales.csv")
    after = SALES[pd.to_datetime(SALES["date"]) > "2024-06-01"]
    assert f"**{len(after)} of {len(SALES)} rows**" in result.answer
    result = await session.ask("customers whose city is missing", "customers.csv")
    assert f"**{CUSTOMERS['city'].isna().sum()} of {len(CUSTOMERS)} rows**" in result.answer


# --- group-by, value counts, missing values, correlation ----------------------------------


def group_rows(result: Analysis) -> dict[str, float]:
    rows = result.table()
    key, value = list(rows[0])
    return {r[key]: number(r[value]) for r in rows}


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("total revenue by region", SALES.groupby("region")["revenue"].sum()),
        ("sum of revenue grouped by region", SALES.groupby("region")["revenue"].sum()),
        ("what is the revenue per region?", SALES.groupby("region")["revenue"].sum()),
        ("average units per product", SALES.groupby("product")["units"].mean()),
        ("mean units by product", SALES.groupby("product")["units"].mean()),
        ("what are the average units for each product", SALES.groupby("product")["units"].mean()),
        ("number of orders per region", SALES.groupby("region").size()),
        ("count of rows by region", SALES.groupby("region").size()),
        ("how many orders in each region", SALES.groupby("region").size()),
    ],
)
async def test_group_by(session: Session, prompt: str, expected: pd.Series) -> None:
    result = await session.ask(prompt, "sales.csv")
    said = group_rows(result)
    assert set(said) == set(expected.index)
    assert all(close(said[k], v) for k, v in expected.items())
    ranked = list(said.values())
    assert ranked == sorted(ranked, reverse=True)  # largest first


async def test_statistics_per_group(session: Session) -> None:
    result = await session.ask("Show revenue statistics grouped by region", "sales.csv")
    stats = ["count", "mean", "std", "min", "median", "max"]
    expected = SALES.groupby("region")["revenue"].agg(stats)
    rows = {r["region"]: r for r in result.table()}
    assert set(rows) == set(expected.index)
    for region, values in expected.iterrows():
        assert all(close(rows[region][name], values[name]) for name in stats)


@pytest.mark.parametrize(
    "prompt", ["monthly revenue", "total revenue per month", "revenue by month"]
)
async def test_group_by_calendar_month(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    months = pd.to_datetime(SALES["date"]).dt.to_period("M").astype(str)
    expected = SALES.groupby(months)["revenue"].sum()
    said = group_rows(result)
    assert list(said) == expected.index.tolist()  # in time order
    assert all(close(said[k], v) for k, v in expected.items())


@pytest.mark.parametrize(
    "prompt",
    ["value counts of city", "how often does each city occur?", "frequency of each city"],
)
async def test_value_counts(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "customers.csv")
    expected = CUSTOMERS["city"].value_counts(dropna=False)
    rows = {r["city"]: r for r in result.table()}
    assert number(rows["*(missing)*"]["count"]) == CUSTOMERS["city"].isna().sum()
    for city, count in expected.dropna().items():
        if isinstance(city, str):
            assert number(rows[city]["count"]) == count
            assert close(rows[city]["% of rows"], count / len(CUSTOMERS) * 100)
    assert f"{CUSTOMERS['city'].nunique()} distinct values" in result.answer


@pytest.mark.parametrize(
    "prompt",
    ["missing values", "which columns have nulls?", "count the NaN values in each column"],
)
async def test_missing_values(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "customers.csv")
    missing = CUSTOMERS.isna().sum()
    rows = {r["column"]: number(r["missing"]) for r in result.table()}
    assert rows == {c: n for c, n in missing.items() if n}
    assert f"**{missing.sum()} missing values**" in result.answer
    assert f"{CUSTOMERS.isna().any(axis=1).sum()} of {len(CUSTOMERS)} rows" in result.answer


@pytest.mark.parametrize(
    "prompt",
    [
        "correlation between units and revenue",
        "how correlated are units and revenue?",
        "what is the relationship between units and revenue",
    ],
)
async def test_correlation_of_two_columns(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    (said,) = bold_numbers(result.answer)
    assert close(said, SALES["units"].corr(SALES["revenue"]))


@pytest.mark.parametrize(
    "prompt",
    [
        "correlation matrix",
        "show the correlations between all numeric columns",
        "correlate every numeric column",
    ],
)
async def test_correlation_matrix(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sensors.csv")
    corr = SENSORS.select_dtypes(include="number").corr()
    rows = {r[""]: r for r in result.table()}
    for a in corr.index:
        for b in corr.columns:
            assert close(rows[a][b], corr.loc[a, b])
    pairs = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    a, b = pairs.abs().idxmax()
    assert f"Strongest pairs: `{a}` and `{b}`: r = {pairs[(a, b)]:.4g}" in result.answer


# --- plots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "histogram of revenue",
        "plot the distribution of revenue",
        "draw a histogram for the revenue column",
    ],
)
async def test_histogram(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    revenue = SALES["revenue"]
    counts, edges = np.histogram(revenue, bins=20)
    peak = counts.argmax()
    assert result.images == 1
    assert f"{len(revenue)} values in 20 bins, from {revenue.min():g} to {revenue.max():g}" in (
        result.answer
    )
    assert f"{edges[peak]:.2f}".rstrip("0") in result.answer
    assert f"holds {counts[peak]} values" in result.answer


@pytest.mark.parametrize(
    "prompt",
    [
        "bar chart of revenue by region",
        "plot total revenue per region as a bar chart",
        "bar plot of the total revenue for each region",
    ],
)
async def test_bar_chart(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    expected = SALES.groupby("region")["revenue"].sum().sort_values(ascending=False)
    assert result.images == 1
    said = group_rows(result)
    assert list(said) == expected.index.tolist()
    assert all(close(said[k], v) for k, v in expected.items())


@pytest.mark.parametrize(
    "prompt",
    [
        "line chart of revenue over time",
        "plot revenue over time",
        "draw a line plot of revenue by date",
    ],
)
async def test_line_chart(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    daily = SALES.groupby(pd.to_datetime(SALES["date"]))["revenue"].sum()
    assert result.images == 1
    assert (
        f"{len(daily)} points from {daily.index.min():%Y-%m-%d} to {daily.index.max():%Y-%m-%d}"
        in (result.answer)
    )
    (row,) = result.table()
    assert close(row["lowest"], daily.min()) and close(row["highest"], daily.max())
    assert list(row.values())[2] == f"{daily.idxmin():%Y-%m-%d}"
    assert list(row.values())[4] == f"{daily.idxmax():%Y-%m-%d}"


async def test_line_chart_of_a_level_averages_rows_that_share_a_time(session: Session) -> None:
    result = await session.ask("plot temperature over time", "sensors.csv")
    hourly = SENSORS.groupby("timestamp")["temperature_c"].mean()
    (row,) = result.table()
    assert row["series"] == "temperature_c (mean)"
    assert close(row["lowest"], hourly.min()) and close(row["highest"], hourly.max())


@pytest.mark.parametrize(
    "prompt",
    [
        "scatter plot of revenue vs units",
        "scatter revenue against units",
        "plot units and revenue as a scatter",
    ],
)
async def test_scatter_plot(session: Session, prompt: str) -> None:
    result = await session.ask(prompt, "sales.csv")
    assert result.images == 1
    assert f"{len(SALES)} points" in result.answer
    r = float(re.search(r"Pearson r = (-?[\d.]+)", result.answer)[1])  # type: ignore[index]
    assert close(r, SALES["units"].corr(SALES["revenue"]))
    assert f"`units` from {SALES['units'].min()} to {SALES['units'].max()}" in result.answer


# --- several files, several tasks, failures ------------------------------------------------


async def test_the_file_whose_columns_match_is_chosen(session: Session) -> None:
    everything = ("sales.csv", "sensors.csv", "customers.csv")
    result = await session.ask("average temperature per sensor", *everything)
    expected = SENSORS.groupby("sensor_id")["temperature_c"].mean()
    said = group_rows(result)
    assert all(close(said[str(k)], v) for k, v in expected.items())
    assert "`sensors.csv`" in result.answer
    result = await session.ask("top 3 rows by revenue", *everything)
    assert column(result.table(), "revenue") == SALES["revenue"].nlargest(3).tolist()


async def test_several_tasks_in_one_request(session: Session) -> None:
    result = await session.ask(
        "How many rows are there? Then show the total revenue by region and plot it as a bar chart",
        "sales.csv",
    )
    assert len(result.steps) == 3
    assert f"**{len(SALES)} rows**" in result.answer
    assert result.images == 1


async def test_overview(session: Session) -> None:
    result = await session.ask("Analyze the CSV file", "customers.csv")
    assert (
        f"{len(CUSTOMERS)} rows \N{MULTIPLICATION SIGN} {CUSTOMERS.shape[1]} columns"
        in result.answer
    )
    assert f"{CUSTOMERS.isna().sum().sum()} missing values in all" in result.answer
    columns, stats = result.tables()
    assert [r["column"] for r in columns] == CUSTOMERS.columns.tolist()
    assert close(stats[0]["mean"], CUSTOMERS["monthly_income"].mean())


async def test_a_failing_cell_fails_the_request_with_the_kernels_error(session: Session) -> None:
    # A summary that no longer matches the kernel's table: the code fails, nothing is guessed.
    real = session.files["sales.csv"]
    stale = FileSummary(
        real.name, real.bytes, "table", "df_gone", real.columns, real.rows, real.head
    )
    session.files["stale.csv"] = stale
    with pytest.raises(ModelError, match=r"failed: NameError: name 'df_gone' is not defined"):
        await session.ask("total revenue by region", "stale.csv")


def _is_json(output: dict[str, Any]) -> bool:
    return "application/json" in (output.get("data") or {})


async def test_every_step_displays_its_numbers_as_json(session: Session) -> None:
    result = await session.ask("total revenue by region", "sales.csv")
    (step,) = result.steps
    payload = next(o["data"]["application/json"] for o in step.outputs if _is_json(o))
    assert payload["planner"] == "group_by" and payload["rows_in_file"] == len(SALES)
