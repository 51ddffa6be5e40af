"""Requests → recipes: each supported request, phrased several ways, on the test CSVs.

The summaries are built the way the inspection cell builds them (pandas' dtypes as text, the
first rows as JSON); no kernel runs here. The kernel-backed tests check the numbers.
"""

from __future__ import annotations

import ast
import builtins
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from worker.agent.planner.conditions import Condition
from worker.agent.planner.recipes.groups import GroupBy, Key
from worker.agent.planner.recipes.plots import Bar, Histogram, Line, Scatter
from worker.agent.planner.recipes.rows import Filter, Preview, Shape, Sort, TopGroups, TopRows
from worker.agent.planner.recipes.stats import (
    Correlation,
    Missing,
    Overview,
    Stats,
    ValueCounts,
)

from worker.agent.model import (
    FINAL_ANSWER,
    RUN_PYTHON,
    Column,
    Conversation,
    FileSummary,
    ModelError,
    StepResult,
)
from worker.agent.planner import CAPABILITIES, OfflinePlanner, PlanError, plan

DATA = Path(__file__).resolve().parents[2] / "data"


def summary(name: str, variable: str = "df") -> FileSummary:
    frame = pd.read_csv(DATA / name)
    head = json.loads(
        frame.head(5).to_json(orient="records", date_format="iso", default_handler=str)
    )
    return FileSummary(
        name=name,
        bytes=(DATA / name).stat().st_size,
        kind="table",
        variable=variable,
        columns=tuple(Column(str(c), str(t)) for c, t in frame.dtypes.items()),
        rows=len(frame),
        head=tuple(head),
    )


SALES = [summary("sales.csv")]
SENSORS = [summary("sensors.csv")]
CUSTOMERS = [summary("customers.csv")]
ALL = [
    summary("sales.csv", "df_sales"),
    summary("sensors.csv", "df_sensors"),
    summary("customers.csv", "df_customers"),
]


def only(prompt: str, files: list[FileSummary]) -> Any:
    planned = plan(prompt, files)
    assert len(planned) == 1, [p.recipe for p in planned]
    return planned[0].recipe


def fields(recipe: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(recipe).items() if k != "table"}


CASES: list[tuple[str, list[FileSummary], type, dict[str, Any]]] = [
    # preview
    ("show the first 5 rows", SALES, Preview, {"n": 5, "mode": "head"}),
    ("preview the data", SALES, Preview, {"n": 5, "mode": "head"}),
    ("What does the file look like?", SALES, Preview, {"n": 5, "mode": "head"}),
    ("display the first eight rows of sales.csv", SALES, Preview, {"n": 8, "mode": "head"}),
    ("show me the last 3 rows", SALES, Preview, {"n": 3, "mode": "tail"}),
    ("a random sample of 4 rows", SALES, Preview, {"n": 4, "mode": "sample"}),
    # shape and columns
    ("how many rows and columns are there?", SALES, Shape, {}),
    ("What is the shape of the dataset?", SALES, Shape, {}),
    ("list the columns and their data types", SALES, Shape, {}),
    ("what are the dimensions of the table", SALES, Shape, {}),
    # summary statistics
    (
        "Calculate the mean, median, and std for all numeric columns",
        SALES,
        Stats,
        {"columns": (), "statistics": ("mean", "median", "std")},
    ),
    (
        "give me the average, median and standard deviation of every numeric column",
        SALES,
        Stats,
        {"columns": (), "statistics": ("mean", "median", "std")},
    ),
    ("mean/median/stdev of the numbers", SALES, Stats, {"statistics": ("mean", "median", "std")}),
    (
        "summary statistics",
        SALES,
        Stats,
        {
            "columns": (),
            "statistics": ("count", "mean", "std", "min", "q25", "median", "q75", "max"),
        },
    ),
    ("describe the data", SALES, Stats, {"columns": ()}),
    (
        "what are the quartiles of units?",
        SALES,
        Stats,
        {"columns": ("units",), "statistics": ("median", "q25", "q75")},
    ),
    (
        "min and max of the unit price",
        SALES,
        Stats,
        {"columns": ("unit_price",), "statistics": ("min", "max")},
    ),
    (
        "what is the highest revenue",
        SALES,
        Stats,
        {"columns": ("revenue",), "statistics": ("max",)},
    ),
    ("total revenue", SALES, Stats, {"columns": ("revenue",), "statistics": ("sum",)}),
    ("90th percentile of revenue", SALES, Stats, {"columns": ("revenue",), "statistics": ("p90",)}),
    ("average age", CUSTOMERS, Stats, {"columns": ("age",), "statistics": ("mean",)}),
    # top / bottom N rows
    (
        "Analyze the CSV file and return top 10 rows by revenue",
        SALES,
        TopRows,
        {"column": "revenue", "n": 10, "descending": True},
    ),
    (
        "10 rows with the highest revenue",
        SALES,
        TopRows,
        {"column": "revenue", "n": 10, "descending": True},
    ),
    (
        "show the ten largest orders by revenue",
        SALES,
        TopRows,
        {"column": "revenue", "n": 10, "descending": True},
    ),
    ("bottom 5 rows by units", SALES, TopRows, {"column": "units", "n": 5, "descending": False}),
    (
        "the 5 smallest orders by units",
        SALES,
        TopRows,
        {"column": "units", "n": 5, "descending": False},
    ),
    (
        "which row has the lowest temperature?",
        SENSORS,
        TopRows,
        {"column": "temperature_c", "n": 1, "descending": False},
    ),
    # top / bottom N groups
    (
        "top 3 products by total revenue",
        SALES,
        TopGroups,
        {"group": "product", "value": "revenue", "agg": "sum", "n": 3},
    ),
    (
        "which 3 products have the highest revenue?",
        SALES,
        TopGroups,
        {"group": "product", "value": "revenue", "n": 3},
    ),
    (
        "which region has the highest average revenue",
        SALES,
        TopGroups,
        {"group": "region", "agg": "mean", "n": 1},
    ),
    (
        "show the 2 products with the lowest total units",
        SALES,
        TopGroups,
        {"group": "product", "value": "units", "descending": False, "n": 2},
    ),
    (
        "which plan has the most customers",
        CUSTOMERS,
        TopGroups,
        {"group": "plan", "value": None, "agg": "count", "n": 1},
    ),
    # sort
    ("sort by revenue descending", SALES, Sort, {"columns": ("revenue",), "ascending": (False,)}),
    (
        "order the rows by revenue from highest to lowest",
        SALES,
        Sort,
        {"columns": ("revenue",), "ascending": (False,)},
    ),
    (
        "arrange the data by revenue in descending order",
        SALES,
        Sort,
        {"columns": ("revenue",), "ascending": (False,)},
    ),
    ("sort by date", SALES, Sort, {"columns": ("date",), "ascending": (True,)}),
    (
        "sort by region ascending and revenue descending, show the first 8",
        SALES,
        Sort,
        {"columns": ("region", "revenue"), "ascending": (True, False), "n": 8},
    ),
    ("sort by revenue and show the first 20", SALES, Sort, {"columns": ("revenue",), "n": 20}),
    (
        "order by region, then revenue from highest to lowest",
        SALES,
        Sort,
        {"columns": ("region", "revenue"), "ascending": (True, False)},
    ),
    ("sort products from z to a", SALES, Sort, {"columns": ("product",), "ascending": (False,)}),
    # filter
    ("rows where revenue > 1000", SALES, Filter, {"where": (Condition("revenue", ">", 1000.0),)}),
    (
        "show orders with revenue greater than 1000",
        SALES,
        Filter,
        {"where": (Condition("revenue", ">", 1000.0),)},
    ),
    ("filter revenue above 1,000", SALES, Filter, {"where": (Condition("revenue", ">", 1000.0),)}),
    (
        "orders in the West region",
        SALES,
        Filter,
        {"where": (Condition("region", "=", "West", "text"),)},
    ),
    (
        "rows where region is 'West'",
        SALES,
        Filter,
        {"where": (Condition("region", "=", "West", "text"),)},
    ),
    ("filter region = West", SALES, Filter, {"where": (Condition("region", "=", "West", "text"),)}),
    (
        "orders after 2024-06-01",
        SALES,
        Filter,
        {"where": (Condition("date", ">", "2024-06-01", "date"),)},
    ),
    (
        "customers whose city is missing",
        CUSTOMERS,
        Filter,
        {"where": (Condition("city", "missing", None, "none"),)},
    ),
    (
        "units between 10 and 20",
        SALES,
        Filter,
        {"where": (Condition("units", ">=", 10.0), Condition("units", "<=", 20.0))},
    ),
    (
        "how many customers are on the pro plan",
        CUSTOMERS,
        Filter,
        {"where": (Condition("plan", "=", "pro", "text"),)},
    ),
    (
        "List all orders from the South region with more than 40 units",
        SALES,
        Filter,
        {"where": (Condition("region", "=", "South", "text"), Condition("units", ">", 40.0))},
    ),
    # group-by
    (
        "total revenue by region",
        SALES,
        GroupBy,
        {"keys": (Key("region"),), "values": ("revenue",), "aggs": ("sum",)},
    ),
    (
        "sum of revenue grouped by region",
        SALES,
        GroupBy,
        {"keys": (Key("region"),), "values": ("revenue",), "aggs": ("sum",)},
    ),
    (
        "what is the revenue per region?",
        SALES,
        GroupBy,
        {"keys": (Key("region"),), "values": ("revenue",), "aggs": ("sum",)},
    ),
    (
        "average units per product",
        SALES,
        GroupBy,
        {"keys": (Key("product"),), "values": ("units",), "aggs": ("mean",)},
    ),
    ("mean units by product", SALES, GroupBy, {"keys": (Key("product"),), "aggs": ("mean",)}),
    (
        "what are the average units for each product",
        SALES,
        GroupBy,
        {"keys": (Key("product"),), "aggs": ("mean",)},
    ),
    (
        "number of orders per region",
        SALES,
        GroupBy,
        {"keys": (Key("region"),), "values": (), "aggs": ("count",)},
    ),
    (
        "count of rows by region",
        SALES,
        GroupBy,
        {"keys": (Key("region"),), "values": (), "aggs": ("count",)},
    ),
    (
        "how many orders in each region",
        SALES,
        GroupBy,
        {"keys": (Key("region"),), "values": (), "aggs": ("count",)},
    ),
    ("monthly revenue", SALES, GroupBy, {"keys": (Key("date", "M"),), "values": ("revenue",)}),
    ("total revenue per month", SALES, GroupBy, {"keys": (Key("date", "M"),), "aggs": ("sum",)}),
    ("revenue by region and product", SALES, GroupBy, {"keys": (Key("region"), Key("product"))}),
    ("sum and mean of revenue by region", SALES, GroupBy, {"aggs": ("sum", "mean")}),
    (
        "number of distinct cities per plan",
        CUSTOMERS,
        GroupBy,
        {"values": ("city",), "aggs": ("nunique",)},
    ),
    (
        "average temperature per sensor",
        SENSORS,
        GroupBy,
        {"keys": (Key("sensor_id"),), "values": ("temperature_c",), "aggs": ("mean",)},
    ),
    (
        "Show revenue statistics grouped by region",
        SALES,
        GroupBy,
        {"aggs": ("count", "mean", "std", "min", "median", "max")},
    ),
    ("What's the average order value?", SALES, Stats, {"columns": (), "statistics": ("mean",)}),
    ("What are the top 5 selling products?", SALES, TopGroups, {"value": "units", "agg": "sum"}),
    # value counts
    ("value counts of region", SALES, ValueCounts, {"column": "region"}),
    ("how often does each region occur?", SALES, ValueCounts, {"column": "region"}),
    ("frequency of each product", SALES, ValueCounts, {"column": "product"}),
    ("distribution of city", CUSTOMERS, ValueCounts, {"column": "city"}),
    ("number of unique values in each column", SALES, ValueCounts, {"column": None}),
    # missing values
    ("missing values", CUSTOMERS, Missing, {"columns": ()}),
    ("which columns have nulls?", CUSTOMERS, Missing, {"columns": ()}),
    ("count the NaN values in each column", CUSTOMERS, Missing, {"columns": ()}),
    ("how many empty cells are in city and age", CUSTOMERS, Missing, {"columns": ("city", "age")}),
    # correlation
    (
        "correlation between units and revenue",
        SALES,
        Correlation,
        {"columns": ("units", "revenue")},
    ),
    (
        "how correlated are units and revenue?",
        SALES,
        Correlation,
        {"columns": ("units", "revenue")},
    ),
    (
        "what is the relationship between units and revenue",
        SALES,
        Correlation,
        {"columns": ("units", "revenue")},
    ),
    ("spearman correlation of units and revenue", SALES, Correlation, {"method": "spearman"}),
    ("correlation matrix", SENSORS, Correlation, {"columns": (), "target": None}),
    (
        "show the correlations between all numeric columns",
        SENSORS,
        Correlation,
        {"columns": (), "target": None},
    ),
    ("correlate every numeric column", SENSORS, Correlation, {"columns": (), "target": None}),
    ("what correlates with power?", SENSORS, Correlation, {"target": "power_w"}),
    # histogram
    ("histogram of revenue", SALES, Histogram, {"columns": ("revenue",), "bins": 20}),
    ("plot the distribution of revenue", SALES, Histogram, {"columns": ("revenue",)}),
    (
        "draw a histogram for the revenue column with 10 bins",
        SALES,
        Histogram,
        {"columns": ("revenue",), "bins": 10},
    ),
    (
        "histograms of all numeric columns",
        SENSORS,
        Histogram,
        {
            "columns": (
                "sensor_id",
                "temperature_c",
                "humidity_pct",
                "pressure_hpa",
                "vibration_mm_s",
                "power_w",
            )
        },
    ),
    ("Show the distribution of unit prices", SALES, Histogram, {"columns": ("unit_price",)}),
    # bar
    (
        "bar chart of revenue by region",
        SALES,
        Bar,
        {"key": Key("region"), "value": "revenue", "agg": "sum"},
    ),
    (
        "plot total revenue per region as a bar chart",
        SALES,
        Bar,
        {"key": Key("region"), "value": "revenue", "agg": "sum"},
    ),
    (
        "bar plot of the average revenue for each region",
        SALES,
        Bar,
        {"key": Key("region"), "agg": "mean"},
    ),
    ("bar chart of region counts", SALES, Bar, {"key": Key("region"), "value": None}),
    ("chart monthly revenue as bars", SALES, Bar, {"key": Key("date", "M"), "value": "revenue"}),
    # line
    (
        "line chart of revenue over time",
        SALES,
        Line,
        {"x": "date", "ys": ("revenue",), "period": None},
    ),
    ("plot revenue over time", SALES, Line, {"x": "date", "ys": ("revenue",)}),
    ("draw a line plot of revenue by date", SALES, Line, {"x": "date", "ys": ("revenue",)}),
    ("plot monthly revenue as a line", SALES, Line, {"x": "date", "period": "M"}),
    ("plot temperature over time", SENSORS, Line, {"x": "timestamp", "ys": ("temperature_c",)}),
    ("How does revenue vary over time?", SALES, Line, {"x": "date", "ys": ("revenue",)}),
    # scatter
    ("scatter plot of units vs revenue", SALES, Scatter, {"x": "revenue", "y": "units"}),
    ("scatter revenue against units", SALES, Scatter, {"x": "units", "y": "revenue"}),
    ("plot units and revenue as a scatter", SALES, Scatter, {"x": "units", "y": "revenue"}),
    (
        "scatter plot of humidity against temperature colored by sensor",
        SENSORS,
        Scatter,
        {"hue": "sensor_id"},
    ),
    # overview
    ("Analyze the CSV file", SALES, Overview, {}),
    ("explore this dataset", SALES, Overview, {}),
    ("give me an overview", SALES, Overview, {}),
    # conditions modify other recipes
    (
        "average revenue in the North region",
        SALES,
        Stats,
        {"where": (Condition("region", "=", "North", "text"),)},
    ),
    (
        "top 5 products by revenue where region is West",
        SALES,
        TopGroups,
        {"where": (Condition("region", "=", "West", "text"),)},
    ),
]


@pytest.mark.parametrize(("prompt", "files", "kind", "expected"), CASES, ids=[c[0] for c in CASES])
def test_requests_map_to_recipes(
    prompt: str, files: list[FileSummary], kind: type, expected: dict[str, Any]
) -> None:
    recipe = only(prompt, files)
    assert isinstance(recipe, kind), recipe
    got = fields(recipe)
    assert {k: got[k] for k in expected} == expected


def test_each_supported_request_has_at_least_three_phrasings() -> None:
    counts: dict[type, int] = {}
    for _, _, kind, _ in CASES:
        counts[kind] = counts.get(kind, 0) + 1
    assert all(n >= 3 for n in counts.values()), counts


@pytest.mark.parametrize(
    ("prompt", "file"),
    [
        ("average temperature per sensor", "sensors.csv"),
        ("top 5 rows by revenue", "sales.csv"),
        ("mean satisfaction score by plan", "customers.csv"),
        ("histogram of power", "sensors.csv"),
        ("preview customers.csv", "customers.csv"),
        ("how many customers signed up each month", "customers.csv"),  # the file's own name
        ("show the first rows of the sales data", "sales.csv"),
    ],
)
def test_several_files_the_one_whose_columns_match_is_used(prompt: str, file: str) -> None:
    recipe = only(prompt, ALL)
    assert recipe.table.name == file
    assert recipe.table.variable == "df_" + file.split(".")[0]


def test_the_best_fitting_file_decides_even_when_it_cannot_answer() -> None:
    # customers.csv names "satisfaction score", "plan", "active" and "customers"; sales.csv
    # only "customers" (customer_type): sales.csv must not answer a question about customers.
    with pytest.raises(PlanError, match=r"`active` and `customer_id` are not numeric"):
        plan("median satisfaction score by plan for active customers", ALL)


def test_a_whole_number_picks_one_id() -> None:
    recipe = only("Plot the vibration for sensor 2 over time", SENSORS)
    assert isinstance(recipe, Line) and recipe.ys == ("vibration_mm_s",)
    assert recipe.where == (Condition("sensor_id", "=", 2.0),)
    assert 'df["sensor_id"] == 2' in recipe.code()


def test_a_request_naming_no_column_applies_to_every_table() -> None:
    planned = plan("show the first 3 rows", ALL)
    assert [p.recipe.table.name for p in planned] == ["sales.csv", "sensors.csv", "customers.csv"]


def test_several_tasks_run_in_order_and_a_general_clause_gives_way() -> None:
    planned = plan("Analyze the data. Show the first 3 rows, then plot revenue by region", SALES)
    assert [type(p.recipe) for p in planned] == [Preview, Bar]


def test_words_no_rule_used_are_reported_not_silently_dropped() -> None:
    (planned,) = plan("Give me the 3 lowest revenue orders in the East", SALES)
    assert planned.unused == ("East",)
    (planned,) = plan("Analyze the CSV file and return top 10 rows by revenue", SALES)
    assert planned.unused == ()


def test_loosely_matched_names_are_reported() -> None:
    (planned,) = plan("average temperature per sensor", SENSORS)
    assert planned.loose_names == (("temperature", "temperature_c"), ("sensor", "sensor_id"))


@pytest.mark.parametrize(
    ("prompt", "files", "words"),
    [
        ("top 10 rows by profit", SALES, ["profit"]),
        ("translate the file to French", SALES, ["translate"]),
        ("predict next month's revenue", SALES, ["predict"]),
        ("make a pie chart of region", SALES, ["pie"]),
        ("scatter plot of revenue", SALES, ["two numeric columns"]),
        ("average region by product", SALES, ["`region` is not numeric"]),
        ("hello there, what's the weather", SALES, ["weather"]),
    ],
)
def test_unmappable_requests_fail_with_what_would_work(
    prompt: str, files: list[FileSummary], words: list[str]
) -> None:
    with pytest.raises(PlanError) as caught:
        plan(prompt, files)
    message = str(caught.value)
    for word in words:
        assert word in message
    for setting in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PYEXEC_LLM_MODEL"):
        assert setting in message
    assert isinstance(caught.value, ModelError)


def test_no_table_no_plan() -> None:
    notes = FileSummary("notes.txt", 20, "other")
    broken = FileSummary("broken.csv", 30, "other", error="ParserError: EOF inside string")
    with pytest.raises(PlanError, match=r"has none \(broken.csv \(ParserError"):
        plan("top 10 rows by revenue", [notes, broken])
    with pytest.raises(PlanError, match="CSV, TSV, Excel"):
        plan("summary statistics", [])


def _undefined_names(code: str, given: set[str]) -> set[str]:
    """Names a cell reads that it neither defines nor imports (nor Python provides)."""
    tree = ast.parse(code)
    defined = set(given) | set(dir(builtins)) | {"display"}
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, ast.alias):
            defined.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return loaded - defined


@pytest.mark.parametrize(("prompt", "files", "kind", "expected"), CASES, ids=[c[0] for c in CASES])
def test_generated_cells_import_what_they_use(
    prompt: str, files: list[FileSummary], kind: type, expected: dict[str, Any]
) -> None:
    recipe = only(prompt, files)
    code = recipe.code()
    assert _undefined_names(code, {recipe.table.variable}) == set(), code
    assert code.startswith("# ")  # says what it does
    assert f"{recipe.table.variable} =" not in code  # never rebinds the loaded table
    if recipe.plots:
        assert "import matplotlib.pyplot as plt" in code


async def test_planner_turns_code_then_answer_then_stops_on_a_failed_step() -> None:
    planner = OfflinePlanner()
    conversation = Conversation(prompt="total revenue by region", files=SALES)
    turn = await planner.next_turn(conversation)
    (call,) = turn.tool_calls
    assert call.name == RUN_PYTHON and "groupby" in call.arguments["code"]
    assert turn.text and turn.text.startswith("I'll compute the total `revenue`")
    payload = {
        "planner": "group_by",
        "file": "sales.csv",
        "rows_in_file": 3,
        "groups": 2,
        "table": {
            "index": [0, 1],
            "columns": ["region", "revenue"],
            "data": [["N", 5.5], ["S", 2.0]],
        },
    }
    outputs = [
        {"output_type": "display_data", "data": {"application/json": payload}, "metadata": {}}
    ]
    conversation.steps.append(StepResult(call.arguments["code"], "ok", outputs, "ok"))
    answer = await planner.next_turn(conversation)
    (final,) = answer.tool_calls
    assert final.name == FINAL_ANSWER
    assert "| N | 5.5 |" in final.arguments["text"]

    failed = Conversation(prompt="total revenue by region", files=SALES)
    failed.steps.append(
        StepResult(call.arguments["code"], "error", [], "", "KeyError: 'revenue' (line 7)")
    )
    with pytest.raises(ModelError, match=r"step 1 .* failed: KeyError: 'revenue' \(line 7\)"):
        await planner.next_turn(failed)


async def test_a_step_that_displayed_nothing_is_not_guessed_at() -> None:
    planner = OfflinePlanner()
    conversation = Conversation(prompt="total revenue by region", files=SALES)
    code = (await planner.next_turn(conversation)).tool_calls[0].arguments["code"]
    conversation.steps.append(StepResult(code, "ok", [], ""))
    with pytest.raises(ModelError, match="displayed no result"):
        await planner.next_turn(conversation)


def test_capabilities_name_every_supported_request_and_the_settings() -> None:
    for word in (
        "preview", "shape", "statistics", "top/bottom", "sort", "filter", "group-by",
        "value counts", "missing", "correlation", "histogram", "bar", "line", "scatter",
        "OPENAI_API_KEY", "OPENAI_BASE_URL", "PYEXEC_LLM_MODEL",
    ):  # fmt: skip
        assert word in CAPABILITIES
