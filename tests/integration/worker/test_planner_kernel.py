"""The offline planner against the CSVs in tests/data, with its cells run in a real kernel.

The files are staged and described by the real inspection cell, the planner's cells (the
profile first) run in a real kernel, and every number its final answer states is compared
with pandas or scipy computed here, independently, from the same CSV. Every answer is also
checked to state no number that its cells did not output.

One kernel serves the module: the planner never rebinds the loaded tables.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytest_asyncio
from scipy import stats

from pyexec.kernels import Kernel, KernelPool, LocalLauncher
from pyexec.worker.agent.grounding import ungrounded_numbers
from pyexec.worker.agent.inspection import inspection_code, parse_inspection
from pyexec.worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Conversation,
    FileSummary,
    ModelError,
    StepResult,
)
from pyexec.worker.agent.planner import OfflinePlanner, PlanError
from pyexec.worker.inputs import StagedFile

pytestmark = pytest.mark.asyncio(loop_scope="module")

DATA = Path(__file__).resolve().parents[2] / "data"
SALES = pd.read_csv(DATA / "sales.csv")
SENSORS = pd.read_csv(DATA / "sensors.csv")
CUSTOMERS = pd.read_csv(DATA / "customers.csv")
FILES = ("sales.csv", "sensors.csv", "customers.csv", "estimates.csv")
MAX_TURNS = 8


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
                answer = call.arguments["text"]
                outputs = [o for s in conversation.steps for o in s.outputs]
                assert ungrounded_numbers(answer, outputs, prompt) == [], answer
                return Analysis(answer, conversation.steps)
            assert call.name == RUN_PYTHON
            code = call.arguments["code"]
            execution = await self.kernel.execute(code, timeout=120)
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
        start_timeout=120,
        interrupt_grace=1.0,
    )
    await pool.start()
    try:
        async with pool.lease() as kernel:
            staged = []
            for name in FILES:
                size = await kernel.files.put(name, DATA / name)
                staged.append(StagedFile(name, size, "text/csv"))
            execution = await kernel.execute(inspection_code(staged), timeout=120)
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


def stated(text: str, expected: float) -> bool:
    found = [float(m.replace(",", "")) for m in re.findall(r"-?\d[\d,]*\.?\d*(?:e-?\d+)?", text)]
    return any(close(n, expected) for n in found)


# --- rows and shape ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "n"), [("show the first 5 rows", 5), ("display the first 8 rows of sales.csv", 8)]
)
async def test_preview(session: Session, prompt: str, n: int) -> None:
    result = await session.ask(prompt, "sales.csv")
    rows = result.table()
    expected = SALES.head(n)
    assert [number(r["order_id"]) for r in rows] == expected["order_id"].tolist()
    assert "200 rows" in result.answer and "8 columns" in result.answer


async def test_shape_and_columns(session: Session) -> None:
    result = await session.ask("how many rows and columns are there?", "customers.csv")
    assert f"**{len(CUSTOMERS)} rows**" in result.answer
    assert f"**{CUSTOMERS.shape[1]} columns**" in result.answer
    assert [r["column"] for r in result.table()] == CUSTOMERS.columns.tolist()


# --- statistics under conditions and per group ---------------------------------------------


async def test_mean_median_std_of_every_numeric_column(session: Session) -> None:
    result = await session.ask(
        "Calculate the mean, median, and std for all numeric columns", "sales.csv"
    )
    numbers = SALES.select_dtypes(include="number")
    rows = {r["column"]: r for r in result.table()}
    assert list(rows) == numbers.columns.tolist()
    for name in numbers.columns:
        assert close(rows[name]["mean"], numbers[name].mean())
        assert close(rows[name]["median"], numbers[name].median())
        assert close(rows[name]["std"], numbers[name].std())


@pytest.mark.parametrize(
    ("prompt", "expected", "used"),
    [
        (
            "average revenue of West orders with more than 20 units",
            SALES[(SALES.region == "West") & (SALES.units > 20)].revenue.mean(),
            int(((SALES.region == "West") & (SALES.units > 20)).sum()),
        ),
        (
            "median units of orders whose revenue is above the average revenue",
            SALES[SALES.revenue > SALES.revenue.mean()].units.median(),
            int((SALES.revenue > SALES.revenue.mean()).sum()),
        ),
        (
            "maximum unit price of Gizmo orders from New customers",
            SALES[(SALES["product"] == "Gizmo") & (SALES.customer_type == "New")].unit_price.max(),
            int(((SALES["product"] == "Gizmo") & (SALES.customer_type == "New")).sum()),
        ),
    ],
)
async def test_every_condition_is_applied(
    session: Session, prompt: str, expected: float, used: int
) -> None:
    result = await session.ask(prompt, "sales.csv")
    (said,) = bold_numbers(result.answer)
    assert close(said, expected)
    assert f"n = {used} of {len(SALES)} rows" in result.answer  # the rows it is computed over


async def test_statistics_per_group_under_a_condition(session: Session) -> None:
    result = await session.ask("total revenue for each region where units > 30", "sales.csv")
    subset = SALES[SALES.units > 30]
    expected = subset.groupby("region").revenue.sum()
    rows = {r["region"]: number(r["sum"]) for r in result.table()}
    assert rows.keys() == set(expected.index)
    assert all(close(rows[k], v) for k, v in expected.items())


async def test_group_by_calendar_month(session: Session) -> None:
    result = await session.ask("total revenue per month", "sales.csv")
    months = pd.to_datetime(SALES["date"]).dt.to_period("M").astype(str)
    expected = SALES.groupby(months)["revenue"].sum()
    rows = result.table()
    assert [r["month"] for r in rows] == expected.index.tolist()  # in time order
    assert all(close(r["sum"], v) for r, v in zip(rows, expected, strict=True))


async def test_a_filter_in_one_sentence_applies_to_the_next(session: Session) -> None:
    result = await session.ask(
        "Keep only the orders from the West. Then find the maximum revenue.", "sales.csv"
    )
    west = SALES[SALES.region == "West"]
    assert f"**{len(west)} of {len(SALES)}**" in result.answer
    assert close(bold_numbers(result.answer)[-1], west.revenue.max())
    assert SALES.revenue.max() != west.revenue.max()  # the test can tell the difference


async def test_which_group_has_the_highest_total(session: Session) -> None:
    result = await session.ask("which product has the highest total revenue?", "sales.csv")
    totals = SALES.groupby("product").revenue.sum()
    assert f"**{totals.idxmax()}**" in result.answer and stated(result.answer, totals.max())


async def test_how_many_and_what_share(session: Session) -> None:
    result = await session.ask("how many customers are on the pro plan?", "customers.csv")
    assert bold_numbers(result.answer)[0] == (CUSTOMERS.plan == "pro").sum()
    result = await session.ask("what percentage of customers are active?", "customers.csv")
    # Of all rows, and the answer says so ("82 of 120"): rows whose `active` is missing count.
    active = (CUSTOMERS.active == "yes").sum()
    assert close(bold_numbers(result.answer)[0], active / len(CUSTOMERS) * 100)
    assert f"({active} of {len(CUSTOMERS)})" in result.answer


async def test_numbers_stored_as_text_with_words_for_missing(session: Session) -> None:
    result = await session.ask("mean age", "customers.csv")
    ages = pd.to_numeric(CUSTOMERS["age"], errors="coerce")
    assert close(bold_numbers(result.answer)[0], ages.mean())
    assert "were read as missing" in result.answer


async def test_numbers_with_annotations_are_refused_with_the_reason(session: Session) -> None:
    with pytest.raises(PlanError, match=r"does not guess"):
        await session.ask("average estimate per region", "estimates.csv")


# --- tests, models, outliers, derived columns, missing values ------------------------------


async def test_correlation_with_p_value_and_strength(session: Session) -> None:
    result = await session.ask(
        "spearman correlation between units and revenue, with its p-value", "sales.csv"
    )
    r, p = stats.spearmanr(SALES.units, SALES.revenue)
    assert close(bold_numbers(result.answer)[0], r)
    assert stated(result.answer, p) or p < 1e-4
    assert "positive" in result.answer


async def test_normality_verdict_at_the_stated_alpha(session: Session) -> None:
    result = await session.ask(
        "Is revenue normally distributed? Use the Shapiro-Wilk test at alpha 0.01", "sales.csv"
    )
    w, p = stats.shapiro(SALES.revenue)
    assert stated(result.answer, w)
    verdict = "normality rejected" if p < 0.01 else "normality not rejected"
    assert verdict in result.answer and "alpha = 0.01" in result.answer


async def test_t_test_chi_square_and_anova(session: Session) -> None:
    result = await session.ask(
        "t-test of revenue between New and Returning customers", "sales.csv"
    )
    t, _ = stats.ttest_ind(
        SALES[SALES.customer_type == "New"].revenue,
        SALES[SALES.customer_type == "Returning"].revenue,
    )
    assert stated(result.answer, t)
    result = await session.ask("chi-square test of region and customer_type", "sales.csv")
    chi2 = stats.chi2_contingency(pd.crosstab(SALES.region, SALES.customer_type))[0]
    assert stated(result.answer, chi2)
    result = await session.ask("one-way anova of revenue across regions", "sales.csv")
    f = stats.f_oneway(*[g.revenue for _, g in SALES.groupby("region")])[0]
    assert stated(result.answer, f)


async def test_multiple_linear_regression(session: Session) -> None:
    import statsmodels.api as sm

    result = await session.ask("regress revenue on units and unit_price", "sales.csv")
    model = sm.OLS(SALES.revenue, sm.add_constant(SALES[["units", "unit_price"]])).fit()
    for value in [*model.params, model.rsquared]:
        assert stated(result.answer, value)


async def test_outliers_by_iqr_and_statistics_without_them(session: Session) -> None:
    result = await session.ask("outliers in vibration_mm_s using the IQR method", "sensors.csv")
    values = SENSORS.vibration_mm_s
    q1, q3 = values.quantile([0.25, 0.75])
    outside = (values < q1 - 1.5 * (q3 - q1)) | (values > q3 + 1.5 * (q3 - q1))
    assert f"**{int(outside.sum())}** outliers" in result.answer
    result = await session.ask("mean vibration_mm_s after removing outliers", "sensors.csv")
    assert close(bold_numbers(result.answer)[-1], values[~outside].mean())


async def test_derived_columns_and_filled_missing_values(session: Session) -> None:
    result = await session.ask("average of revenue minus units", "sales.csv")
    assert close(bold_numbers(result.answer)[0], (SALES.revenue - SALES.units).mean())
    result = await session.ask(
        "fill missing monthly_income with the median, then compute the mean monthly_income",
        "customers.csv",
    )
    income = CUSTOMERS.monthly_income
    assert close(bold_numbers(result.answer)[-1], income.fillna(income.median()).mean())


async def test_missing_values_and_if_so(session: Session) -> None:
    result = await session.ask("Are there any missing values in city? If so, how many?",
                               "customers.csv")
    assert f"**{CUSTOMERS.city.isna().sum()} missing value" in result.answer


# --- plots, files, failures ----------------------------------------------------------------


async def test_histogram_says_what_was_drawn(session: Session) -> None:
    result = await session.ask("histogram of revenue", "sales.csv")
    assert result.images == 1
    assert f"{len(SALES)} values from {SALES.revenue.min():g}" in result.answer


async def test_the_file_whose_columns_match_is_chosen(session: Session) -> None:
    result = await session.ask("average temperature_c per sensor_id", *FILES[:3])
    expected = SENSORS.groupby("sensor_id")["temperature_c"].mean()
    rows = {number(r["sensor_id"]): number(r["mean"]) for r in result.table()}
    assert all(close(rows[k], v) for k, v in expected.items())
    assert "sensors.csv" in result.steps[-1].code


async def test_a_failing_cell_fails_the_request_with_the_kernels_error(session: Session) -> None:
    # A summary that no longer matches the kernel's table: the code fails, nothing is guessed.
    real = session.files["sales.csv"]
    stale = FileSummary(
        real.name, real.bytes, "table", "df_gone", real.columns, real.rows, real.head
    )
    session.files["stale.csv"] = stale
    with pytest.raises(ModelError, match=r"NameError: name 'df_gone' is not defined"):
        await session.ask("total revenue by region", "stale.csv")


async def test_every_step_displays_its_numbers_as_json(session: Session) -> None:
    result = await session.ask("total revenue by region", "sales.csv")
    payloads = [
        o["data"]["application/json"]
        for s in result.steps
        for o in s.outputs
        if "application/json" in (o.get("data") or {})
    ]
    assert [p["planner"] for p in payloads] == ["aggregate"]
    assert payloads[0]["rows_in_file"] == len(SALES)
    assert np.isclose(payloads[0]["table"]["data"][0][1], SALES.groupby("region").revenue.sum()
                      .max())
