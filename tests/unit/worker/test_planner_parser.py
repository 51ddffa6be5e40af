"""Requests → query values: every part that changes a number lands in a slot, or the request
refuses naming it. No kernel runs here; the kernel tests check the numbers."""

from __future__ import annotations

import pytest

from pyexec.worker.agent.planner import PlanError, plan
from pyexec.worker.agent.planner.query import AggRef, Cond, Expr, Group, Query
from tests.support.planner_tables import table

SALES = table("sales.csv")
CUSTOMERS = table("customers.csv")
SENSORS = table("sensors.csv")
ESTIMATES = table("estimates.csv")


def one(prompt: str, tbl=SALES) -> Query:  # type: ignore[no-untyped-def]
    steps = plan(prompt, [tbl]).steps
    assert len(steps) == 1, [s.kind for s in steps]
    return steps[0].query


def refused(prompt: str, tbl=SALES) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(PlanError) as caught:
        plan(prompt, [tbl])
    return str(caught.value)


def col(name: str) -> Expr:
    return Expr.of(name)


# --- every condition is a slot ------------------------------------------------------------


def test_conditions_on_values_and_numbers_are_both_applied() -> None:
    query = one("average revenue of West orders with more than 20 units")
    assert query.measure is not None and query.measure.aggs == ("mean",)
    assert query.targets == (col("revenue"),)
    assert set(query.filters) == {
        Cond(col("region"), "==", "West", "text"),
        Cond(col("units"), ">", 20.0, "number"),
    }


def test_a_comparison_with_an_aggregate_is_a_condition() -> None:
    query = one("median units of orders whose revenue is above the average revenue")
    (cond,) = query.filters
    assert cond.op == ">" and cond.value == AggRef("mean", col("revenue"))
    assert query.targets == (col("units"),)


def test_a_value_in_a_condition_is_a_value_not_a_column() -> None:
    query = one("mean temperature_c where sensor_id = 2", SENSORS)
    assert query.filters == (Cond(col("sensor_id"), "==", 2.0, "number"),)
    assert query.targets == (col("temperature_c"),)


def test_a_yes_no_column_named_as_a_condition_filters_its_rows() -> None:
    query = one("average monthly income of customers who are not active", CUSTOMERS)
    assert query.filters == (Cond(col("active"), "==", "no", "text"),)


def test_years_and_date_ranges_bind_to_the_date_column() -> None:
    query = one("total revenue in March 2024")
    assert [c.op for c in query.filters] == [">=", "<="]
    assert [c.value for c in query.filters] == ["2024-03-01", "2024-03-31"]


def test_two_values_of_one_column_joined_by_and_are_groups() -> None:
    query = one("mean revenue for North and South")
    assert query.filters == (Cond(col("region"), "in", ("North", "South"), "text"),)
    assert query.groups == (Group("region"),)


@pytest.mark.parametrize(
    ("prompt", "groups"),
    [
        ("total revenue for each region", (Group("region"),)),
        ("average units per product and region", (Group("product"), Group("region"))),
        ("total revenue by month", (Group("date", "M"),)),
        ("average temperature_c per sensor_id", (Group("sensor_id"),)),
    ],
)
def test_groups(prompt: str, groups: tuple[Group, ...]) -> None:
    tbl = SENSORS if "sensor" in prompt else SALES
    assert one(prompt, tbl).groups == groups


def test_a_column_named_twice_is_one_column() -> None:
    query = one("mean of revenue (the `revenue` column)")
    assert query.targets == (col("revenue"),)


# --- measures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "kind", "method"),
    [
        ("spearman correlation of units and revenue", "correlation", "spearman"),
        ("is revenue normally distributed? use shapiro-wilk", "normality", "shapiro"),
        ("t-test of revenue between New and Returning customers", "ttest", None),
        ("chi-square test of region and product", "chi2", None),
        ("one-way anova of revenue across regions", "anova", None),
        ("regress revenue on units and unit_price", "regression", None),
        ("outliers in revenue using the IQR rule", "outliers", "iqr"),
    ],
)
def test_tests_and_models(prompt: str, kind: str, method: str | None) -> None:
    query = one(prompt)
    assert query.measure is not None and query.measure.kind == kind
    if method:
        assert query.measure.method == method


def test_the_significance_level_is_read() -> None:
    query = one("Is units normally distributed at the 1% significance level?")
    assert query.measure is not None and query.measure.alpha == pytest.approx(0.01)


def test_regression_outcome_comes_first() -> None:
    query = one("regress revenue on units and unit_price")
    assert query.targets == (col("revenue"), col("units"), col("unit_price"))


def test_derived_columns() -> None:
    query = one("mean of revenue minus units")
    assert query.targets == (Expr(op="sub", args=(col("revenue"), col("units"))),)
    query = one("average ratio of revenue to units")
    assert query.targets == (Expr(op="div", args=(col("revenue"), col("units"))),)


def test_preparation_before_the_measure() -> None:
    query = one("mean revenue after removing outliers")
    (prep,) = query.prep
    assert prep.kind == "drop_outliers" and prep.columns == ("revenue",)


def test_which_group_has_the_highest_total() -> None:
    query = one("which region has the highest total revenue")
    assert query.measure is not None and query.measure.kind == "extreme"
    assert query.measure.entity == "region" and query.measure.aggs == ("sum",)


# --- state carries through the steps ------------------------------------------------------


def test_a_filter_set_in_one_sentence_applies_to_the_next() -> None:
    steps = plan("Keep only the orders from the West. Then find the maximum revenue.",
                 [SALES]).steps
    assert [s.kind for s in steps] == ["state", "aggregate"]
    assert "data = rows" in steps[0].code
    assert "rows = data" in steps[1].code


def test_if_so_how_many_is_answered_by_the_check_before() -> None:
    planned = plan("Are there any missing values in city? If so, how many?", [CUSTOMERS])
    assert [s.kind for s in planned.steps] == ["missing"]
    assert planned.covered == ["If so, how many"]


# --- refusals name the part ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "named"),
    [
        ("average revenue in a particular county", "county"),
        ("average revenue per salesperson", "salesperson"),
        ("correlation between revenue and discount", "discount"),
        ("forecast next month's revenue", "forecast"),
        ("mean revenue for orders that were returned", "returned"),
        ("which product has the highest revenue", "in total"),
    ],
)
def test_a_part_that_cannot_be_read_refuses_naming_it(prompt: str, named: str) -> None:
    message = refused(prompt)
    assert named in message
    assert "PYEXEC_LLM_MODEL" in message  # and says what would work


def test_a_plural_row_word_is_not_a_column() -> None:
    # "passengers" must not become a `PassengerId`-like column: here "customers" is the rows.
    query = one("how many customers are on the pro plan", CUSTOMERS)
    assert query.filters == (Cond(col("plan"), "==", "pro", "text"),)
    assert query.targets == ()


def test_text_with_annotated_numbers_is_refused_with_the_reason() -> None:
    message = refused("mean estimate", ESTIMATES)
    assert "30129[28000-32000]" in message and "does not guess" in message
    # the clean column beside it is read as numbers
    assert one("mean population", ESTIMATES).targets == (col("population"),)


def test_presentation_words_are_said_not_dropped() -> None:
    planned = plan("correlation of units and revenue, and interpret the results", [SALES])
    assert planned.notes == ["interpret the results"]


def test_loose_names_are_reported() -> None:
    query = one("average humidity", SENSORS)
    assert query.loose == (("humidity", "humidity_pct"),)


def test_preparation_said_last_is_for_every_computation() -> None:
    planned = plan(
        "What is the mean monthly_income? Fill missing monthly_income with the median.",
        [CUSTOMERS],
    )
    assert [s.kind for s in planned.steps] == ["state", "aggregate"]
    planned = plan("Mean of monthly_income. Ignore missing values.", [CUSTOMERS])
    assert [s.kind for s in planned.steps] == ["aggregate"]
    assert planned.skipped == ["Ignore missing values"]
