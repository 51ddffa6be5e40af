"""The rules: a clause read against a table (`Reading`) → the recipe it asks for.

Rules are tried from the most specific (plots, correlation, missing values, top N, sorting,
group-by, value counts) to the most general (statistics, shape, preview); conditions found in
the clause ("where revenue > 1000") filter the rows of whichever recipe wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from worker.agent.model import ModelError
from worker.agent.planner.code import ticked
from worker.agent.planner.reading import Reading
from worker.agent.planner.recipes.base import Recipe
from worker.agent.planner.recipes.groups import GroupBy, Key
from worker.agent.planner.recipes.plots import Bar, Histogram, Line, Scatter, date_column_for
from worker.agent.planner.recipes.rows import Filter, Preview, Shape, Sort, TopGroups, TopRows
from worker.agent.planner.recipes.stats import (
    DESCRIBE,
    Correlation,
    Missing,
    Overview,
    Stats,
    ValueCounts,
    ordered_statistics,
)


class PlanError(ModelError):
    """The request cannot be mapped onto the files; the message says why and what would work."""


DESC = ("top", "highest", "largest", "biggest", "greatest", "best", "most", "maximum", "max")
ASC = ("bottom", "lowest", "smallest", "least", "worst", "fewest", "minimum", "min")
_DIRECTION = r"\b(?P<dir>" + "|".join(DESC + ASC) + r")\b"
_ROW_WORDS = (
    r"\b(?:rows?|records?|entries|entry|lines?|observations?|transactions?|orders?|items?|sales|"
    r"which|who)\b"
)
_AGG_PATTERNS: tuple[tuple[str, str], ...] = (
    ("sum", r"\b(?:sum|sums|total|totals|overall|combined)\b"),
    ("mean", r"\baverage\b"),
    ("median", r"\bmedian\b"),
    ("nunique", r"\b(?:distinct|unique)\b"),
    ("count", r"\b(?:count|counts|number of|how many)\b"),
    ("min", r"\b(?:min|minimum|lowest|smallest)\b"),
    ("max", r"\b(?:max|maximum|highest|largest)\b"),
)
_PERIODS: tuple[tuple[str, str], ...] = (
    ("D", r"\b(?:daily|per day|by day|each day|every day|days?)\b"),
    ("W", r"\b(?:weekly|per week|by week|each week|every week|weeks?)\b"),
    ("M", r"\b(?:monthly|per month|by month|each month|every month|months?)\b"),
    ("Q", r"\b(?:quarterly|per quarter|by quarter|each quarter|quarters?)\b"),
    ("Y", r"\b(?:yearly|annual|annually|per year|by year|each year|every year|years?)\b"),
)
_KEY_INTRO = (
    r"(?:grouped by|group by|groupby|broken down by|break down by|split by|by|per|for each|"
    r"for every|in each|within each|across|each|every|for all)"
)
_EXPLICIT_GROUP = r"\b(?:group|grouped|groupby|per|each|every|across|broken|split)\b"
_DESC_WORDS = (
    r"\b(?:desc|descending|decreasing|reverse|reversed|high(?:est)? to low(?:est)?|"
    r"large(?:st)? to small(?:est)?|big(?:gest)? to small(?:est)?|most to least|largest first|"
    r"highest first|biggest first|newest first|latest first|most recent first|z to a)\b"
)
_ASC_WORDS = (
    r"\b(?:asc|ascending|increasing|low(?:est)? to high(?:est)?|small(?:est)? to large(?:st)?|"
    r"smallest first|lowest first|oldest first|earliest first|a to z|chronological(?:ly)?)\b"
)
_UNSUPPORTED = re.compile(
    r"\b(?:predict\w*|forecast\w*|regression|train|training|cluster\w*|classif\w*|"
    r"machine learning|anova|t-test|ttest|significan\w*|p-value|translate|merge|join|pivot|"
    r"outliers?|anomal\w*|seasonal\w*|pie|box ?plots?|violin|heatmap|impute|deduplicate)\b"
)
_COUNTING = (
    r"\b(?:value counts|frequenc(?:y|ies)|unique|distinct|occurrences?|occurs?|breakdown|tally|"
    r"how often|counts? (?:of )?each|counts? for each|each value|counts)\b"
)
_OVER_TIME = r"\b(?:over_time|trends?|vary|varies|change|changes|changed|evolve\w*)\b"
# A count written in the request; not the digits of a placeholder like @1 or $0.
_COUNT = r"(?<![\w.@$])(\d+)"
DEFAULT_TOP = 10
DEFAULT_PREVIEW = 5


def _aggs(text: str, default: str | None = "sum") -> list[str]:
    found = [(m.start(), name) for name, p in _AGG_PATTERNS for m in re.finditer(p, text)]
    aggs: list[str] = []
    for _, name in sorted(found):
        if name not in aggs:
            aggs.append(name)
    if "nunique" in aggs and "count" in aggs:
        aggs.remove("count")  # "number of distinct products" is one statistic
    return aggs or ([default] if default else [])


def _period(text: str) -> str | None:
    for code, pattern in _PERIODS:
        if re.search(pattern, text):
            return code
    return None


def _first_number(text: str, default: int) -> int:
    match = re.search(_COUNT + r"(?![\w.])", text)
    return int(match[1]) if match else default


def _numberish(r: Reading, index: int) -> bool:
    return r.kind(index) == "number"


# --- plots --------------------------------------------------------------------------------


def plot(r: Reading) -> Recipe | None:
    indices = r.indices()
    numbers = [r.column(i) for i in indices if _numberish(r, i)]
    dates = [r.column(i) for i in indices if r.kind(i) == "date"]
    groups = [r.column(i) for i in indices if r.kind(i) in ("text", "bool")]
    # "the distribution of unit prices" and "how revenue changes over time" are pictures too.
    pictured = (r.has(r"\bdistribution\b") and numbers and not groups) or (
        r.has(_OVER_TIME) and numbers and (dates or r.table.date_columns)
    )
    if not r.has(r"\b(?:plot|histogram|scatter|draw)\b") and not pictured:
        return None
    where = r.conditions
    if r.has(r"\bhistogram\b") or (r.has(r"\bdistribution\b") and not groups):
        columns = tuple(numbers) or tuple(r.table.numeric_columns)
        if not columns:
            raise PlanError(f"`{r.table.name}` has no numeric column to draw a histogram of.")
        bins = re.search(_COUNT + r" bins?\b", r.template)
        return Histogram(r.table, where, columns, int(bins[1]) if bins else 20)
    if r.has(r"\bscatter\b") or (
        len(numbers) >= 2 and not dates and not r.has(r"\b(?:bars?|lines?)\b")
    ):
        return _scatter(r, numbers, groups)
    if r.has(rf"\blines?\b|\bover\b|{_OVER_TIME}") or (
        dates and numbers and not r.has(r"\bbars?\b")
    ):
        return _line(r, numbers, dates)
    if r.has(r"\bbars?\b") or groups or dates:
        return _bar(r, numbers, dates, groups)
    if len(numbers) == 1:
        return Histogram(r.table, where, tuple(numbers))
    raise PlanError(
        'I could not tell which columns to plot. Name them, e.g. "histogram of revenue", '
        '"bar chart of revenue by region", "line chart of revenue over time" or '
        '"scatter plot of units vs revenue".'
    )


def _scatter(r: Reading, numbers: list[str], groups: list[str]) -> Recipe:
    if len(numbers) < 2:
        found = f" (I found only {ticked(numbers)})" if numbers else ""
        raise PlanError(
            f"A scatter plot needs two numeric columns{found}: "
            'e.g. "scatter plot of units vs revenue".'
        )
    versus = r.search(r"@(\d+) vs @(\d+)")
    if versus and _numberish(r, int(versus[1])) and _numberish(r, int(versus[2])):
        y, x = r.column(versus[1]), r.column(versus[2])  # "revenue vs units": revenue goes up
    else:
        x, y = numbers[0], numbers[1]
    hue = None
    by = r.search(r"\b(?P<how>by|colou?red by|colou?r by|per|for each|hue) @(\d+)")
    if by and (r.kind(by[2]) in ("text", "bool") or "colo" in by["how"] or by["how"] == "hue"):
        hue = r.column(by[2])
    elif groups and r.has(r"\bcolou?r"):
        hue = groups[0]
    return Scatter(r.table, r.conditions, x, y, hue)


def _line(r: Reading, numbers: list[str], dates: list[str]) -> Recipe:
    x = dates[0] if dates else None
    ys = [c for c in numbers if c != x]
    if x is None:
        versus = r.search(r"@(\d+) vs @(\d+)")
        if versus and len(ys) >= 2:
            x = r.column(versus[2])
            ys = [c for c in ys if c != x]
        else:
            x = date_column_for(r.table, [])
    if not ys:
        raise PlanError(
            'A line chart needs a numeric column to draw: e.g. "line chart of revenue over time".'
        )
    aggs = _aggs(r.template, default=None)
    agg = next((a for a in aggs if a in ("sum", "mean", "median", "min", "max", "count")), None)
    period = _period(r.template) if x is not None and r.table.kind(x) == "date" else None
    return Line(r.table, r.conditions, x, tuple(ys), agg, period)


def _bar(r: Reading, numbers: list[str], dates: list[str], groups: list[str]) -> Recipe:
    period = _period(r.template)
    key: Key | None = None
    by = r.search(rf"\b{_KEY_INTRO} @(\d+)")
    if by:
        key_column = r.column(by[1])
        key = Key(key_column, period if r.table.kind(key_column) == "date" else None)
    elif groups:
        key = Key(groups[0])
    elif period:
        date = date_column_for(r.table, dates)
        key = Key(date, period) if date else None
    elif dates:
        key = Key(dates[0])
    if key is None:
        raise PlanError(
            'A bar chart needs a column to group by: e.g. "bar chart of revenue by region" '
            'or "bar chart of region counts".'
        )
    values = [c for c in numbers if c != key.column]
    aggs = _aggs(r.template, default=None)
    agg = next((a for a in aggs if a in ("sum", "mean", "median", "min", "max", "count")), "sum")
    if agg == "count" or not values:
        return Bar(r.table, r.conditions, key, None, "count")
    return Bar(r.table, r.conditions, key, values[0], agg)


# --- numbers ------------------------------------------------------------------------------


def correlation(r: Reading) -> Recipe | None:
    if not r.has(r"\b(?:correlat\w*|corr|relationships?|related|relate|association|associated)\b"):
        return None
    method = (
        "spearman" if r.has(r"\bspearman\b") else "kendall" if r.has(r"\bkendall\b") else "pearson"
    )
    indices = r.indices()
    columns = tuple(r.column(i) for i in indices if _numberish(r, i))
    others = [r.column(i) for i in indices if not _numberish(r, i)]
    if not columns and others:
        raise PlanError(
            f"Correlation needs numeric columns; {ticked(others)} "
            f"{'is' if len(others) == 1 else 'are'} not numeric."
        )
    if len(columns) == 1 and not r.has(r"\b(?:matrix|all|every|each)\b"):
        return Correlation(r.table, r.conditions, (), method, target=columns[0])
    if len(columns) == 1:
        columns = ()
    return Correlation(r.table, r.conditions, columns, method)


def missing(r: Reading) -> Recipe | None:
    if not r.has(r"\b(?:missing|empty|blank|incomplete)\b"):
        return None
    return Missing(r.table, r.conditions, tuple(r.columns()))


def top_n(r: Reading) -> Recipe | None:
    # "from highest to lowest" is a sort order, not a ranking: blank such phrases out.
    unordered = re.sub(f"{_DESC_WORDS}|{_ASC_WORDS}", lambda m: " " * len(m[0]), r.template)
    match = re.search(_DIRECTION, unordered)
    if match is None:
        return None
    word = match["dir"]
    descending = word in DESC
    before, after = r.template[: match.start()], r.template[match.end() :]
    n_after = re.match(r"\s*" + _COUNT + r"\b", after)
    n_before = re.search(_COUNT + r"\s+(?:[\w@]+\s+){0,3}$", before)
    n = int(n_after[1]) if n_after else int(n_before[1]) if n_before else None

    def rankable(index: int) -> bool:
        return _numberish(r, index) or r.kind(index) == "date"

    # The column to rank by: the one after "by" ("the 10 largest orders by revenue"), else the
    # first number or date named after the direction word ("highest revenue").
    keyed = re.search(
        r"\b(?:by|based on|according to|ranked by|sorted by|ordered by|in terms of|with)\s+"
        r"(?:(?:total|sum of|sum|average|median|count of|number of)\s+)?(?:of\s+)?@(\d+)",
        after,
    )
    after_indices = r.indices(after)
    key_index: int | None = None
    if keyed and rankable(int(keyed[1])):
        key_index = int(keyed[1])
    else:
        key_index = next((i for i in after_indices if rankable(i)), None)
    # What is ranked: a category asked about ("which region …") or named before the key
    # ("top 5 products by revenue"); else rows.
    which = re.search(r"\b(?:which|what)\s+(?:\d+\s+)?@(\d+)", before)
    entity_index: int | None = int(which[1]) if which and not rankable(int(which[1])) else None
    if entity_index is None:
        key_at = (
            after_indices.index(key_index) if key_index in after_indices else len(after_indices)
        )
        categories = [i for i in after_indices[:key_at] if not rankable(i)]
        earlier = [i for i in r.indices(before) if not rankable(i)]
        entity_index = categories[0] if categories else earlier[-1] if earlier else None
    rows_wanted = n is not None or word in ("top", "bottom") or re.search(_ROW_WORDS, r.template)
    if not rows_wanted and entity_index is None:
        return None  # "the highest revenue" is a statistic (max), not a ranking
    one = re.search(r"\b(?:which|what|who)\b", before) or re.search(
        r"\b(?:row|record|entry)\b", r.template
    )
    count = n or (1 if one else DEFAULT_TOP)
    if entity_index is not None:
        group = r.column(entity_index)
        aggs = _aggs(before + " " + after, default=None)
        agg = next((a for a in aggs if a in ("sum", "mean", "median", "count")), "sum")
        if key_index is None and r.has(r"\b(?:selling|sold|sells|sell)\b"):
            # "top 5 selling products": by the quantity sold, when the table has one.
            sold = [
                c for c in r.table.numeric_columns if re.search(r"unit|quantit|qty|sold", c, re.I)
            ]
            if sold:
                return TopGroups(r.table, r.conditions, group, sold[0], "sum", count, descending)
        if key_index is None or agg == "count":
            return TopGroups(r.table, r.conditions, group, None, "count", count, descending)
        return TopGroups(r.table, r.conditions, group, r.column(key_index), agg, count, descending)
    unknown = re.search(r"\bby\s+([a-z]\w*)", after)
    if key_index is None and unknown and unknown[1] not in ("rows", "row", "count", "number"):
        raise PlanError(
            f"No column of `{r.table.name}` matches “{unknown[1]}”. "
            f"Its columns: {ticked(r.table.columns)}."
        )
    if key_index is None:
        if word == "top" and n is not None:
            if r.conditions:
                return Filter(r.table, r.conditions, n)
            return Preview(r.table, (), n)
        raise PlanError(
            f'“{word}” needs a column to rank by: e.g. "top 10 rows by revenue". '
            f"Columns of `{r.table.name}`: {ticked(r.table.columns)}."
        )
    return TopRows(r.table, r.conditions, r.column(key_index), count, descending)


def sort(r: Reading) -> Recipe | None:
    # "order" alone is often a noun ("average order value"): only "order by" or "in … order".
    match = r.search(
        r"\b(?:sort|sorted|sorting|arrange|arranged|rank|ranked|ranking)\b|"
        r"\b(?:order|ordered|ordering)(?= (?:\w+ )?by\b)|\b(?:in|into) (?:\w+ )?order\b"
    )
    if match is None:
        return None
    after = r.template[match.end() :]
    indices = r.indices(after) or r.indices(r.template[: match.start()])
    if not indices:
        raise PlanError(
            f'Sort by which column? e.g. "sort by revenue descending". '
            f"Columns of `{r.table.name}`: {ticked(r.table.columns)}."
        )
    # One column: a direction anywhere is its own. Several: each takes the direction written
    # after it ("by region, then revenue descending"), ascending when none is.
    every_desc = len(indices) == 1 and r.has(_DESC_WORDS) and not r.has(_ASC_WORDS)
    columns: list[str] = []
    ascending: list[bool] = []
    placeholders = list(re.finditer(r"@(\d+)", r.template))
    for n, placeholder in enumerate(placeholders):
        index = int(placeholder[1])
        if index not in indices or r.column(index) in columns:
            continue
        end = placeholders[n + 1].start() if n + 1 < len(placeholders) else len(r.template)
        segment = r.template[placeholder.end() : end]
        if re.search(_DESC_WORDS, segment):
            up = False
        elif re.search(_ASC_WORDS, segment):
            up = True
        else:
            up = not every_desc
        columns.append(r.column(index))
        ascending.append(up)
    shown = re.search(rf"\b(?:first|top|show)\s+{_COUNT}\b|{_COUNT}\s+rows\b", r.template)
    n = int(shown[1] or shown[2]) if shown else 10
    return Sort(r.table, r.conditions, tuple(columns), tuple(ascending), n)


def group_by(r: Reading) -> Recipe | None:
    keys: list[Key] = []
    key_indices: list[int] = []
    period = _period(r.template)
    for match in re.finditer(rf"\b{_KEY_INTRO} @(\d+)((?:\s+(?:and|,)?\s*@\d+)*)", r.template):
        explicit = re.search(_EXPLICIT_GROUP, match[0])
        for index in [int(match[2 - 1])] + [int(i) for i in re.findall(r"@(\d+)", match[2] or "")]:
            if index in key_indices:
                continue
            if _numberish(r, index) and not explicit:
                continue  # "by revenue" is an order, not a grouping
            key_indices.append(index)
            column = r.column(index)
            keys.append(Key(column, period if r.table.kind(column) == "date" and period else None))
    if period and not any(k.period for k in keys):
        date = date_column_for(r.table, [r.column(i) for i in r.indices() if r.kind(i) == "date"])
        if date is None:
            return None
        if date in [k.column for k in keys]:
            keys = [k for k in keys if k.column != date]
        keys.insert(0, Key(date, period))
        key_indices += [i for i in r.indices() if r.column(i) == date]
    if not keys:
        return None
    values = [r.column(i) for i in r.indices() if i not in key_indices]
    values = [v for n, v in enumerate(values) if v not in values[:n]]
    aggs = [
        a
        for a in _aggs(r.template, default=None)
        if a in ("sum", "mean", "median", "count", "min", "max", "nunique")
    ]
    if not values or aggs == ["count"]:
        # "number of orders per region" counts rows, whatever column "orders" matched.
        if not aggs and r.has(_COUNTING + r"|\bdistribution\b"):
            return None  # a value count, not a group-by
        return GroupBy(r.table, r.conditions, tuple(keys), (), ("count",))
    if r.has(r"\b(?:statistics|statistic|describe|description|summary|summari[sz]e)\b"):
        aggs = ["count", "mean", "std", "min", "median", "max"]
    if not aggs:
        aggs = ["sum"]
    if any(a in ("sum", "mean", "median", "min", "max") for a in aggs):
        words = [v for v in values if r.table.kind(v) not in ("number",)]
        if words:
            raise PlanError(
                f"{ticked(words)} {'is' if len(words) == 1 else 'are'} not numeric, so "
                f"{aggs[0]} per group cannot be computed. Numeric columns of `{r.table.name}`: "
                f"{ticked(r.table.numeric_columns)}."
            )
    return GroupBy(r.table, r.conditions, tuple(keys), tuple(values), tuple(aggs))


def value_counts(r: Reading) -> Recipe | None:
    wording = _COUNTING
    indices = r.indices()
    # "distribution of region" or "count region" (a category) are value counts too.
    of_category = len(indices) == 1 and not _numberish(r, indices[0])
    if not r.has(wording) and not (r.has(r"\bdistribution\b|\bcount\b") and of_category):
        return None
    if not indices:
        if r.has(r"\b(?:unique|distinct)\b"):
            return ValueCounts(r.table, r.conditions, None)
        return None
    return ValueCounts(r.table, r.conditions, r.column(indices[0]))


_STAT_WORDS: tuple[tuple[str, str], ...] = (
    ("mean", r"\baverage\b"),
    ("median", r"\bmedian\b"),
    ("std", r"\bstd\b"),
    ("var", r"\b(?:variance|var)\b"),
    ("min", r"\b(?:min|minimum|lowest|smallest)\b"),
    ("max", r"\b(?:max|maximum|highest|largest|biggest)\b"),
    ("sum", r"\b(?:sum|total)\b"),
    ("iqr", r"\b(?:iqr|interquartile range)\b"),
    ("range", r"\brange\b"),
    ("count", r"\bcount\b"),
)


def stats(r: Reading) -> Recipe | None:
    wanted: set[str] = set()
    text = r.template
    for name, pattern in _STAT_WORDS:
        if re.search(pattern, text):
            wanted.add(name)
    if re.search(r"\binterquartile range\b", text):
        wanted.discard("range")
    if re.search(r"\bquartiles?\b", text):
        wanted |= {"q25", "median", "q75"}
    for match in re.finditer(r"\b(\d{1,2}) percentiles?\b|\bp(\d{1,2})\b", text):
        wanted.add(f"p{match[1] or match[2]}")
    if re.search(r"\bpercentiles?\b", text) and not any(w.startswith("p") for w in wanted):
        wanted |= {"q25", "median", "q75"}
    general = re.search(
        r"\b(?:statistics|statistic|describe|description|summary|summari[sz]e)\b", text
    )
    if general:
        wanted |= set(DESCRIBE)
    if wanted == {"count"} or not wanted:
        return None
    indices = r.indices()
    columns = tuple(r.column(i) for i in indices if _numberish(r, i))
    others = [r.column(i) for i in indices if not _numberish(r, i)]
    if others and not columns:
        raise PlanError(
            f"{ticked(others)} {'is' if len(others) == 1 else 'are'} not numeric. "
            f"Numeric columns of `{r.table.name}`: {ticked(r.table.numeric_columns) or 'none'}."
        )
    return Stats(r.table, r.conditions, columns, ordered_statistics(wanted))


def shape(r: Reading) -> Recipe | None:
    if not r.has(
        r"\b(?:shape|dimensions?|size|how many (?:rows|columns|records|entries|lines|observations)|"
        r"(?:number|count) of (?:rows|columns|records|entries|observations)|row count|"
        r"column names|columns|dtypes|schema|structure|info|fields|how big|how large|length|"
        r"count rows|count records)\b"
    ):
        return None
    if r.conditions:
        return Filter(r.table, r.conditions)
    return Shape(r.table)


def preview(r: Reading) -> Recipe | None:
    if not r.has(
        r"\b(?:preview|head|first|sample|peek|glimpse|look like|looks like|show|display|print|"
        r"view|see|tail|last|rows|records|entries)\b"
    ):
        return None
    n = _first_number(r.template, DEFAULT_PREVIEW)
    if r.conditions:
        return Filter(r.table, r.conditions, max(n, 10) if n == DEFAULT_PREVIEW else n)
    mode = "tail" if r.has(r"\b(?:tail|last)\b") else "sample" if r.has(r"\bsample\b") else "head"
    return Preview(r.table, (), n, mode)  # type: ignore[arg-type]


RULES: tuple[Callable[[Reading], Recipe | None], ...] = (
    plot,
    correlation,
    missing,
    top_n,
    sort,
    group_by,
    value_counts,
    stats,
    shape,
    preview,
)
_OVERVIEW = re.compile(
    r"\b(?:analy[sz]e|analysis|explore|exploration|overview|profile|eda|insights?|understand|"
    r"examine|inspect|investigate|look|tell|about|report)\b"
)


def recipe_for(r: Reading) -> Recipe | None:
    """The recipe a clause asks for, or None when no rule recognises it."""
    unsupported = _UNSUPPORTED.search(r.template)
    if unsupported:
        raise PlanError(f"“{unsupported[0]}” is beyond the offline planner.")
    for rule in RULES:
        recipe = rule(r)
        if recipe is not None:
            return recipe
    if r.conditions:
        return Filter(r.table, r.conditions)
    return None


def overview_for(r: Reading) -> Recipe | None:
    """A general request ("analyze the data") when nothing more specific was asked."""
    return Overview(r.table, r.conditions) if _OVERVIEW.search(r.template) else None
