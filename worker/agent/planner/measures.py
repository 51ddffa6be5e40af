"""Each measure: its checks (what it refuses), its code over `rows`, and its answer.

The code of a measure only sees `rows` (conditions and preparation are applied before it);
groups, when the query has them, are handled here, per measure, because a per-group t-test
is not a per-group mean. The answer is written only from the numbers the code displayed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyexec.worker.agent.planner.markdown import fmt, plural, table
from pyexec.worker.agent.planner.parser import Refusal
from pyexec.worker.agent.planner.query import Expr, Measure, Query, q
from pyexec.worker.agent.planner.tables import Table

MAX_LISTED = 20


@dataclass
class Ctx:
    query: Query
    table: Table
    base: str
    thresholds: list[tuple[str, str]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    base_rows_word: str = "the file's"

    def fresh(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.names:
            candidate, n = f"{name}_{n}", n + 1
        self.names.add(candidate)
        return candidate

    @property
    def measure(self) -> Measure:
        """The clause's measure: code and answers are made only for a clause that has one."""
        assert self.query.measure is not None
        return self.query.measure

    @property
    def new_names(self) -> set[str]:
        return {name for name, _ in self.query.new_columns}

    def values_code(self, expr: Expr, frame: str) -> str:
        """The expression's values over `frame`, as numbers where they must be."""
        if expr.column is not None:
            column = expr.column
            ref = f"{frame}[{q(column)}]"
            if column in self.new_names or self.table.is_numeric(column):
                return ref
            if self.table.text_of_numbers(column):
                return f'pd.to_numeric({ref}, errors="coerce")'
            return ref
        args = [self.values_code(a, frame) for a in expr.args]
        op = expr.op
        if op in ("sub", "add", "mul", "div"):
            symbol = {"sub": "-", "add": "+", "mul": "*", "div": "/"}[op]
            return f"({args[0]} {symbol} {args[1]})"
        if op == "log":
            return f"np.log({args[0]})"
        if op == "sqrt":
            return f"np.sqrt({args[0]})"
        if op == "abs":
            return f"{args[0]}.abs()"
        inner = expr.args[0]
        dates = args[0]
        if inner.column is not None and not self.table.parsed_as_dates(inner.column):
            dates = f'pd.to_datetime({args[0]}, errors="coerce")'
        return f"{dates}.dt.{'dayofweek' if op == 'weekday' else op}"

    def is_number(self, expr: Expr) -> bool:
        if expr.column is None:
            return True
        column = expr.column
        return (
            column in self.new_names
            or self.table.is_numeric(column)
            or self.table.text_of_numbers(column)
        )

    def require_numbers(self, expr: Expr, doing: str) -> None:
        for column in expr.columns():
            self.require_single(column)
            if self.is_number(Expr.of(column)):
                continue
            facts = self.table.facts(column)
            kind = self.table.kind(column)
            if kind == "text" and facts.numbers:
                example = f" (e.g. “{facts.not_numbers[0]}”)" if facts.not_numbers else ""
                present = self.table.total_rows - facts.missing
                raise Refusal(
                    f"to {doing}, `{column}` must hold numbers, but it is text: "
                    f"{present - facts.numbers - facts.na_words} of {present} values are not "
                    f"plain numbers{example}, and the planner does not guess how to read them"
                )
            example = f" (e.g. “{facts.not_numbers[0]}”)" if facts.not_numbers else ""
            raise Refusal(
                f"to {doing}, `{column}` must hold numbers, but it holds {kind}{example}; the "
                "planner does not guess how to read it as numbers"
            )

    def require_single(self, column: str) -> None:
        if column in self.table.duplicated:
            raise Refusal(f"`{column}` is the name of several columns of the file: rename them")

    def coerced_note(self, exprs: tuple[Expr, ...] | list[Expr]) -> str:
        notes = []
        for expr in exprs:
            for column in expr.columns():
                if column in self.new_names or self.table.is_numeric(column):
                    continue
                if self.table.text_of_numbers(column) and self.table.facts(column).na_words:
                    notes.append(
                        f"`{column}` is stored as text; its values that are not a number "
                        "(such as “unknown” or “n/a”) were read as missing"
                    )
        return ("\n\n" + "; ".join(notes) + ".") if notes else ""

    @property
    def decimals(self) -> int | None:
        return self.query.extras.get("decimals")

    def f(self, value: Any) -> str:
        if self.decimals is not None and isinstance(value, float):
            return f"{value:.{self.decimals}f}"
        return fmt(value)

    def group_keys(self, frame: str = "rows") -> tuple[str, list[str]]:
        """(the `by=` argument for groupby, the key names) for the query's groups."""
        keys: list[str] = []
        names: list[str] = []
        for group in self.query.groups:
            self.require_single(group.column)
            if group.period is None:
                keys.append(f"{frame}[{q(group.column)}]")
                names.append(group.column)
                continue
            dates = f"{frame}[{q(group.column)}]"
            if not self.table.parsed_as_dates(group.column):
                dates = f'pd.to_datetime({dates}, errors="coerce")'
            if group.period in ("weekday", "hour"):
                part = "day_name()" if group.period == "weekday" else "hour"
                keys.append(f"{dates}.dt.{part}.rename({q(group.name())})")
            elif group.period == "Y":
                keys.append(f"{dates}.dt.year.rename({q(group.name())})")
            else:
                keys.append(
                    f"{dates}.dt.to_period({q(group.period)}).astype(str).rename("
                    f"{q(group.name())})"
                )
            names.append(group.name())
        return ("[" + ", ".join(keys) + "]" if len(keys) > 1 else keys[0]), names


@dataclass(frozen=True)
class Spec:
    title: Callable[[Ctx], str]
    code: Callable[[Ctx], tuple[list[str], list[tuple[str, str]]]]
    answer: Callable[[Ctx, dict[str, Any]], str]
    check: Callable[[Ctx], None] = lambda ctx: None
    imports: Callable[[Ctx], tuple[str, ...]] = lambda ctx: ()


def names(exprs: tuple[Expr, ...] | list[Expr]) -> str:
    items = [f"`{e.name()}`" for e in exprs]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def scope(ctx: Ctx, data: dict[str, Any], used: int | None = None) -> str:
    """"n = 214 of 891 rows (`Survived` is 1 and `Pclass` is 1)"."""
    total = data.get("rows_in_file")
    n = used if used is not None else data.get("rows_used")
    said = [c.describe() for c in ctx.query.filters]
    said += [p.describe() for p in ctx.query.prep]
    for name, words in ctx.thresholds:
        if name in data:
            said.append(f"{words} = {ctx.f(data[name])}")
    before = data.get("rows_before")
    state = ctx.query.extras.get("state_said") or []
    if before is not None and state:
        said = [*state, *said]
    where = f": {'; '.join(said)}" if said else ""
    return f"n = {n} of {total} rows{where}"


# --- aggregates ---------------------------------------------------------------------------

_AGG_NAMES = {
    "mean": "mean", "median": "median", "sum": "sum", "min": "minimum", "max": "maximum",
    "std": "standard deviation", "var": "variance", "range": "range",
    "iqr": "interquartile range", "mode": "mode", "nunique": "number of distinct values",
    "skew": "skewness", "kurt": "kurtosis", "count": "count", "cv": "coefficient of variation",
}  # fmt: skip
_NUMERIC_AGGS = {"mean", "median", "sum", "std", "var", "range", "iqr", "skew", "kurt", "cv"}
_AGG_CODE = {
    "mean": "{v}.mean()", "median": "{v}.median()", "sum": "{v}.sum()", "min": "{v}.min()",
    "max": "{v}.max()", "std": "{v}.std()", "var": "{v}.var()", "count": "{v}.count()",
    "nunique": "{v}.nunique()", "skew": "{v}.skew()", "kurt": "{v}.kurt()",
    "range": "{v}.max() - {v}.min()", "iqr": "{v}.quantile(0.75) - {v}.quantile(0.25)",
    "cv": "{v}.std() / {v}.mean()",
}  # fmt: skip
_GROUP_AGG = {
    "mean": "mean", "median": "median", "sum": "sum", "min": "min", "max": "max",
    "std": "std", "var": "var", "count": "count", "nunique": "nunique", "skew": "skew",
}  # fmt: skip


def _agg_list(ctx: Ctx) -> list[str]:
    aggs = list(ctx.query.measure.aggs) if ctx.query.measure else []
    quantiles = ctx.query.extras.get("quantiles") or ()
    out = [a for a in aggs if a != "count" or len(aggs) == 1 or not quantiles]
    for share in quantiles:
        out.append(f"q{share:g}")
    return list(dict.fromkeys(out))


_HEADERS = {"nunique": "distinct", "iqr": "IQR", "kurt": "kurtosis", "skew": "skewness"}


def _agg_header(agg: str) -> str:
    """A table's column header: pandas' short names ("std", "25%")."""
    if agg.startswith("q"):
        return f"{float(agg[1:]) * 100:g}%"
    return _HEADERS.get(agg, agg)


def _agg_label(agg: str) -> str:
    if agg.startswith("q"):
        share = float(agg[1:])
        return {0.25: "first quartile", 0.5: "median", 0.75: "third quartile"}.get(
            share, f"{share * 100:g}th percentile"
        )
    return _AGG_NAMES.get(agg, agg)


def _agg_expr(agg: str, v: str) -> str:
    if agg.startswith("q"):
        return f"{v}.quantile({agg[1:]})"
    if agg == "mode":
        return f"{v}.mode().tolist()"
    return _AGG_CODE[agg].format(v=v)


def _all_numeric(ctx: Ctx) -> bool:
    text = ctx.query.extras.get("text", "")
    return bool(re.search(r"\b(?:all|every|each|the)\s+(?:of\s+the\s+)?(?:numeric|numerical|"
                          r"number|quantitative|continuous)?\s*(?:columns|variables|features|"
                          r"fields|attributes|numbers)\b", text, re.I))


def _aggregate_targets(ctx: Ctx) -> list[Expr]:
    targets = list(ctx.query.targets)
    if targets:
        return targets
    aggs = _agg_list(ctx)
    if aggs == ["count"] or not aggs:
        return []
    if _all_numeric(ctx):
        return [Expr.of(c) for c in ctx.table.numeric_columns]
    raise Refusal(f"which column to take the {_agg_label(aggs[0])} of")


def aggregate_check(ctx: Ctx) -> None:
    aggs = _agg_list(ctx)
    targets = _aggregate_targets(ctx)
    for expr in targets:
        for column in expr.columns():
            ctx.require_single(column)
        if any(a in _NUMERIC_AGGS or a.startswith("q") for a in aggs):
            ctx.require_numbers(expr, f"take the {_agg_label(aggs[0])}")
    for group in ctx.query.groups:
        if any(group.column in t.columns() for t in targets):
            raise Refusal(f"`{group.column}` is both what is grouped by and what is measured")
        if group.period in (None, "D") and ctx.table.unique_per_row(group.column):
            raise Refusal(
                f"a statistic per {group.name()}: every row has its own `{group.column}`, so "
                "each group would be one row"
            )


def aggregate_title(ctx: Ctx) -> str:
    aggs = _agg_list(ctx)
    targets = _aggregate_targets(ctx)
    what = ", ".join(_agg_label(a) for a in aggs) or "count"
    of = ", ".join(t.name() for t in targets) or "rows"
    by = f" per {', '.join(g.name() for g in ctx.query.groups)}" if ctx.query.groups else ""
    return f"{what.capitalize()} of {of}{by}"


def aggregate_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    aggs = _agg_list(ctx)
    targets = _aggregate_targets(ctx)
    if not targets:  # "how many rows …"
        if ctx.query.groups:
            by, keys = ctx.group_keys()
            lines = [
                f'counts = rows.groupby({by}).size().rename("rows")',
                "display(counts.to_frame())",
            ]
            return lines, [
                ("keys", q("|".join(keys))),
                ("table", 'counts.reset_index().to_dict(orient="split")'),
                ("groups", "len(counts)"),
            ]
        lines = ['print(f"{len(rows)} rows")']
        return lines, [("count", "len(rows)")]
    lines = []
    frame = {}
    for expr in targets:
        frame[expr.name()] = ctx.values_code(expr, "rows")
    lines.append("values = pd.DataFrame(")
    lines.append("    {")
    for name, code in frame.items():
        lines.append(f"        {q(name)}: {code},")
    lines.append("    }")
    lines.append(")")
    if "std" in aggs or "var" in aggs:
        lines.append("# std and var are sample statistics (ddof=1), as pandas computes them.")
    if not ctx.query.groups:
        lines.append("summary = pd.DataFrame(")
        lines.append("    {")
        for agg in aggs:
            if agg == "mode":
                lines.append('        "mode": {c: values[c].mode().tolist() for c in values},')
                continue
            lines.append(f"        {q(_agg_header(agg))}: {_agg_expr(agg, 'values')},")
        lines.append('        "n": values.count(),')
        lines.append("    }")
        lines.append(")")
        lines.append("display(summary)")
        results = [
            ("aggs", q("|".join(aggs))),
            ("summary", 'summary.to_dict(orient="split")'),
            ("stats", 'summary.drop(columns="n").to_dict(orient="split")'),
        ]
        if aggs == ["count"] and len(targets) == 1 and not ctx.is_number(targets[0]):
            # "how many firms": the distinct values, beside the rows that have one
            lines.append("distinct = values.nunique()")
            results.append(("distinct", "distinct.to_dict()"))
        return lines, results
    by, keys = ctx.group_keys()
    lines.append(f"grouped = values.groupby({by})")
    parts = []
    for agg in aggs:
        for name in frame:
            label = _agg_header(agg) if len(frame) == 1 else f"{name} ({_agg_header(agg)})"
            if agg == "mode":
                agg_code = f'grouped[{q(name)}].agg(lambda s: ", ".join(map(str, s.mode())))'
            elif agg.startswith("q"):
                agg_code = f"grouped[{q(name)}].quantile({agg[1:]})"
            elif agg in _GROUP_AGG:
                agg_code = f"grouped[{q(name)}].{_GROUP_AGG[agg]}()"
            elif agg == "range":
                agg_code = f"grouped[{q(name)}].max() - grouped[{q(name)}].min()"
            elif agg == "iqr":
                agg_code = (f"grouped[{q(name)}].quantile(0.75) - "
                        f"grouped[{q(name)}].quantile(0.25)")
            elif agg == "cv":
                agg_code = f"grouped[{q(name)}].std() / grouped[{q(name)}].mean()"
            else:
                agg_code = f"grouped[{q(name)}].agg({q(agg)})"
            parts.append((label, agg_code))
    lines.append("summary = pd.DataFrame(")
    lines.append("    {")
    lines += [f"        {q(label)}: {expr}," for label, expr in parts]
    lines.append('        "n": grouped.size(),' if len(frame) == 1 else
                 '        "rows": grouped.size(),')
    lines.append("    }")
    lines.append(")")
    if len(parts) == 1 and all(
        g.period is None and ctx.table.kind(g.column) in ("text", "bool")
        for g in ctx.query.groups
    ):
        lines.append(f"summary = summary.sort_values({q(parts[0][0])}, ascending=False)")
    lines.append("display(summary)")
    return lines, [
        ("aggs", q("|".join(aggs))),
        ("keys", q("|".join(keys))),
        ("table", 'summary.reset_index().to_dict(orient="split")'),
        ("groups", "len(summary)"),
    ]


def aggregate_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    targets = _aggregate_targets(ctx)
    if not targets:
        if "count" in data:
            return f"**{data['count']}** rows ({scope(ctx, data)})."
        return _group_table(ctx, data, "Number of rows")
    if "summary" not in data:
        return _group_table(ctx, data, aggregate_title(ctx))
    summary = data["summary"]
    aggs = data["aggs"].split("|")
    if aggs == ["count"] and "distinct" in data:
        (name,) = data["distinct"]
        return (f"`{name}` has **{data['distinct'][name]}** distinct values "
                f"({summary['data'][0][0]} rows with a value; {scope(ctx, data)}).")
    labels = summary["columns"]
    rows = summary["data"]
    index = summary["index"]
    note = ctx.coerced_note(targets)
    if len(index) == 1:
        row = rows[0]
        n = row[-1]
        parts = []
        for agg, value in zip(aggs, row[:-1], strict=False):
            parts.append(f"the {_agg_label(agg)} of `{index[0]}` is **{_value(ctx, value)}**")
        text = "; ".join(parts)
        return f"{text[0].upper()}{text[1:]} ({scope(ctx, data, n)} with a value).{note}"
    header = ["column", *labels]
    body = [[name, *[_cell(ctx, v) for v in row]] for name, row in zip(index, rows, strict=False)]
    head = f"**{aggregate_title(ctx)}** ({scope(ctx, data)}):"
    return head + "\n\n" + table(header, body) + note


def _value(ctx: Ctx, value: Any) -> str:
    if isinstance(value, list):
        if not value:
            return "none"
        if len(value) > 10:
            return ", ".join(ctx.f(v) for v in value[:10]) + f" … ({len(value)} values tie)"
        return ", ".join(ctx.f(v) for v in value)
    return ctx.f(value)


def _cell(ctx: Ctx, value: Any) -> Any:
    if isinstance(value, float) and ctx.decimals is not None:
        return round(value, ctx.decimals)
    if isinstance(value, list):
        return _value(ctx, value)
    return value


def _group_table(ctx: Ctx, data: dict[str, Any], title: str) -> str:
    split = data["table"]
    columns = list(split["columns"])
    rows = [[_cell(ctx, v) for v in row] for row in split["data"]]
    groups = data.get("groups", len(rows))
    head = (f"**{title}** ({scope(ctx, data)}; {plural(groups, 'group')}):")
    text = head + "\n\n" + table(columns, rows)
    keys = len(data.get("keys", "").split("|"))
    values = [r for r in rows if isinstance(r[keys], int | float) and not isinstance(
        r[keys], bool)]
    if len(columns) == keys + 2 and len(values) > 1 and len({r[keys] for r in values}) > 1:
        high = max(values, key=lambda r: r[keys])
        low = min(values, key=lambda r: r[keys])
        label = " / ".join(str(v) for v in high[:keys])
        label_low = " / ".join(str(v) for v in low[:keys])
        text += (f"\n\nHighest: **{label}** ({ctx.f(high[keys])}); "
                 f"lowest: **{label_low}** ({ctx.f(low[keys])}).")
    return text + ctx.coerced_note(list(ctx.query.targets))


# --- counting rows, shares, existence -----------------------------------------------------


def percent_check(ctx: Ctx) -> None:
    if not ctx.query.filters and not _binary_target(ctx):
        raise Refusal("a share of which rows (name a condition, e.g. “where x > 5”)")


def _binary_target(ctx: Ctx) -> str | None:
    for expr in ctx.query.targets:
        if expr.column and ctx.table.binary(expr.column):
            return expr.column
    return None


def percent_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    base = ctx.base
    lines: list[str] = []
    column = _binary_target(ctx) if not ctx.query.filters else None
    if column is not None:
        true, _ = ctx.table.binary(column) or (True, False)
        lines.append(f"hits = rows[{q(column)}] == {true!r}")
        lines.append(f"known = rows[{q(column)}].notna()")
        total = "int(known.sum())"
        part = "int(hits.sum())"
    else:
        # The share of the rows before this clause's conditions that meet them.
        total = f"len({base})"
        part = "len(rows)"
    if ctx.query.groups:
        by, keys = ctx.group_keys(base if column is None else "rows")
        if column is None:
            lines.append("hits = pd.Series(False, index=" + base + ".index)")
            lines.append("hits[rows.index] = True")
            lines.append(f"share = hits.groupby({by}).mean() * 100")
        else:
            lines.append(f"share = hits[known].groupby({by}).mean() * 100")
        lines.append('display(share.rename("percent").to_frame())')
        return lines, [
            ("keys", q("|".join(keys))),
            ("table", 'share.rename("percent").reset_index().to_dict(orient="split")'),
            ("groups", "len(share)"),
        ]
    lines.append(f"share = {part} / {total} * 100")
    lines.append(f'print(f"{{{part}}} of {{{total}}} rows: {{share:.2f}}%")')
    return lines, [("part", part), ("total", total), ("percent", "share")]


def percent_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    if "table" in data:
        return _group_table(ctx, data, "Percentage of rows")
    said = " and ".join(c.describe() for c in ctx.query.filters)
    column = _binary_target(ctx) if not ctx.query.filters else None
    if column is not None:
        true, _ = ctx.table.binary(column) or (True, False)
        said = f"`{column}` is {true!r}"
    return (f"**{ctx.f(data['percent'])}%** of the rows ({data['part']} of {data['total']}) "
            f"have {said}.")


def exists_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    n = ctx.query.measure.n if ctx.query.measure and ctx.query.measure.n else 10
    return [
        'print(f"{len(rows)} rows match")',
        f"display(rows.head({n}))",
    ], [("count", "len(rows)"), ("shown", f'rows.head({n}).to_dict(orient="split")')]


def exists_check(ctx: Ctx) -> None:
    if not ctx.query.filters:
        raise Refusal("what to look for (a condition, e.g. “any rows where x > 5”)")


def exists_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    said = " and ".join(c.describe() for c in ctx.query.filters)
    count = data["count"]
    if not count:
        return f"**No**: no row has {said} (of {data['rows_in_file']} rows)."
    of = data.get("rows_before", data["rows_in_file"])
    head = f"**Yes**: **{count}** of {of} rows have {said}"
    shown = data["shown"]
    first = "" if len(shown["data"]) == count else f"; the first {len(shown['data'])}"
    return head + f"{first}:\n\n" + _split(shown, "row")


def _split(split: dict[str, Any], index_header: str | None = None) -> str:
    from pyexec.worker.agent.planner.markdown import split_table

    return split_table(split, index_header, as_is=True)


# --- rows, shape, columns, missing, value counts, describe --------------------------------


def rows_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    measure = ctx.query.measure
    assert measure is not None
    n = measure.n or (10 if ctx.query.filters else 5)
    columns = [c for t in ctx.query.targets for c in t.columns()]
    frame = "rows" if not columns else f"rows[[{', '.join(q(c) for c in dict.fromkeys(columns))}]]"
    if measure.mode == "tail":
        pick = f"{frame}.tail({n})"
    elif measure.mode == "sample":
        pick = f"{frame}.sample(n=min({n}, len(rows)), random_state=0)"
    else:
        pick = f"{frame}.head({n})"
    return [f"shown = {pick}", "display(shown)"], [
        ("n_columns", "rows.shape[1]"),
        ("shown", 'shown.to_dict(orient="split")'),
    ]


def rows_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    measure = ctx.measure
    shown = data["shown"]
    if measure.mode == "lookup" and data["rows_used"] == 1 and shown["data"]:
        said = " and ".join(c.describe() for c in ctx.query.filters)
        values = "; ".join(f"`{c}` is **{fmt(v)}**" for c, v in zip(shown["columns"],
                                                                     shown["data"][0],
                                                                     strict=False))
        return f"{values} (the one row where {said}, of {data['rows_in_file']} rows)."
    what = {"tail": "Last", "sample": "A random sample of"}.get(measure.mode or "", "First")
    if ctx.query.filters:
        count = data["rows_used"]
        head = (f"**{count} of {data.get('rows_before', data['rows_in_file'])} rows** match "
                f"{' and '.join(c.describe() for c in ctx.query.filters)}")
        if not count:
            return head + "."
        if len(shown["data"]) < count:
            head += f"; the {what.lower()} {len(shown['data'])}"
        return head + ":\n\n" + _split(shown, "row")
    head = (f"**{what} {plural(len(shown['data']), 'row')} of `{ctx.table.name}`** "
            f"({plural(data['rows_used'], 'row')} \N{MULTIPLICATION SIGN} "
            f"{plural(data['n_columns'], 'column')} in all):")
    index = "row" if measure.mode != "head" else None
    return head + "\n\n" + _split(shown, index)


def shape_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    return [
        'print(f"{len(rows)} rows x {rows.shape[1]} columns")',
        "overview = pd.DataFrame(",
        "    {",
        '        "dtype": rows.dtypes.astype(str),',
        '        "non-null": rows.notna().sum(),',
        '        "missing": rows.isna().sum(),',
        "    }",
        ")",
        "display(overview)",
    ], [
        ("n_rows", "len(rows)"),
        ("n_columns", "rows.shape[1]"),
        ("overview", 'overview.reset_index().to_dict(orient="split")'),
    ]


def shape_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    overview = data["overview"]
    rows = [list(r) for r in overview["data"]]
    where = f" ({scope(ctx, data)})" if ctx.query.filters else ""
    head = (f"`{ctx.table.name}` has **{plural(data['n_rows'], 'row')}** and "
            f"**{plural(data['n_columns'], 'column')}**{where}:")
    return head + "\n\n" + table(["column", "dtype", "non-null", "missing"], rows)


def missing_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    columns = [c for t in ctx.query.targets for c in t.columns()]
    checked = "rows" if not columns else f"rows[[{', '.join(q(c) for c in columns)}]]"
    return [
        f"checked = {checked}",
        "missing = checked.isna().sum()",
        'report = pd.DataFrame({"missing": missing, "percent": missing / len(rows) * 100})',
        "display(report)",
    ], [
        ("columns_checked", "checked.shape[1]"),
        ("with_gaps", "int((missing > 0).sum())"),
        ("missing", "missing.to_dict()"),
        ("percent", 'report["percent"].to_dict()'),
        ("total_missing", "int(missing.sum())"),
        ("rows_with_missing", "int(checked.isna().any(axis=1).sum())"),
    ]


def missing_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    missing: dict[str, int] = data["missing"]
    gaps = [c for c, n in missing.items() if n]
    columns = bool(ctx.query.targets)
    if not gaps:
        of = names(list(ctx.query.targets)) if columns else "any column"
        return f"**No missing values** in {of} ({scope(ctx, data)})."
    head = (f"**{plural(data['total_missing'], 'missing value')}** in {data['with_gaps']} of "
            f"{plural(data['columns_checked'], 'column')}; {data['rows_with_missing']} rows have "
            f"at least one ({scope(ctx, data)}):")
    shown = list(missing) if columns else gaps
    rows = [[c, missing[c], data["percent"][c]] for c in shown]
    return head + "\n\n" + table(["column", "missing", "% of rows"], rows)


def value_counts_check(ctx: Ctx) -> None:
    if len(ctx.query.targets) != 1:
        raise Refusal("which one column to count the values of")
    if ctx.query.groups:
        raise Refusal("value counts per group (ask for the count per combination with "
                      "“number of rows by a and b”)")


def value_counts_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    (expr,) = ctx.query.targets
    values = ctx.values_code(expr, "rows")
    n = ctx.query.measure.n if ctx.query.measure else None
    head = f".head({n})" if n else ""
    return [
        "# dropna=False: missing values are counted too, as their own row.",
        f"counts = {values}.value_counts(dropna=False)",
        'report = pd.DataFrame({"count": counts, "percent": counts / len(rows) * 100})',
        f"display(report{head})",
    ], [
        ("labels", f"counts.index.tolist(){'[:' + str(n) + ']' if n else ''}"),
        ("counts", f"counts.tolist(){'[:' + str(n) + ']' if n else ''}"),
        ("percent", f"report['percent'].tolist(){'[:' + str(n) + ']' if n else ''}"),
        ("distinct", f"int({values}.nunique())"),
    ]


def value_counts_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    (expr,) = ctx.query.targets
    labels = ["*(missing)*" if v is None else v for v in data["labels"]]
    rows = list(zip(labels, data["counts"], data["percent"], strict=False))
    head = (f"**`{expr.name()}`** has {plural(data['distinct'], 'distinct value')} "
            f"({scope(ctx, data)}):")
    return head + "\n\n" + table([expr.name(), "count", "% of rows"], rows)


def describe_targets(ctx: Ctx) -> list[Expr]:
    return list(ctx.query.targets) or [Expr.of(c) for c in ctx.table.numeric_columns]


def describe_check(ctx: Ctx) -> None:
    for expr in ctx.query.targets:
        ctx.require_numbers(expr, "summarise it")
    if ctx.query.groups and len(describe_targets(ctx)) != 1:
        raise Refusal("summary statistics per group of several columns (name one column)")


def describe_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    targets = describe_targets(ctx)
    lines = ["values = pd.DataFrame(", "    {"]
    lines += [f"        {q(t.name())}: {ctx.values_code(t, 'rows')}," for t in targets]
    lines += ["    }", ")"]
    if ctx.query.groups:
        by, _ = ctx.group_keys()
        lines.append(f"summary = values[{q(targets[0].name())}].groupby({by}).describe()")
    else:
        lines.append("summary = values.describe().T")
    lines.append("display(summary)")
    return lines, [("summary", 'summary.to_dict(orient="split")')]


def describe_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    summary = data["summary"]
    if not summary["index"]:
        return f"`{ctx.table.name}` has no numeric columns to summarise."
    header = ["column" if not ctx.query.groups else ctx.query.groups[0].name(),
              *[{"50%": "median"}.get(c, c) for c in summary["columns"]]]
    rows = [[i, *[_cell(ctx, v) for v in r]] for i, r in zip(summary["index"], summary["data"],
                                                             strict=False)]
    return (f"**Summary statistics** ({scope(ctx, data)}; std is the sample standard "
            "deviation):\n\n" + table(header, rows) + ctx.coerced_note(describe_targets(ctx)))


# --- extreme rows and rankings -----------------------------------------------------------


def _rank_target(ctx: Ctx) -> Expr | None:
    measure = ctx.query.measure
    entity = measure.entity if measure else None
    numbers = [t for t in ctx.query.targets if t.column != entity and ctx.is_number(t)]
    return numbers[-1] if numbers else None


def extreme_check(ctx: Ctx) -> None:
    measure = ctx.query.measure
    assert measure is not None
    others = [t for t in ctx.query.targets if t.column != measure.entity]
    numbers = [t for t in others if ctx.is_number(t)]
    if len(others) == 2 and measure.entity is None:
        return  # "the age of the patient with the highest progression": the last one ranks
    if len(others) > 1:
        raise Refusal(f"which one of {names(others)} the extreme is taken over")
    if others and not numbers:
        ctx.require_numbers(others[0], "rank the rows")
    aggs = [a for a in measure.aggs if a != "count"]
    entity = measure.entity
    if entity and entity != "__date__":
        ctx.require_single(entity)
    if not numbers and entity in (None, "__date__"):
        raise Refusal("which column's highest or lowest value is asked")
    if not numbers:
        return  # "which region has the most rows": a count per value
    if entity and entity != "__date__" and not aggs and not ctx.table.unique_per_row(entity):
        if ctx.query.extras.get("single"):
            return
        raise Refusal(
            f"whether the {'highest' if measure.descending else 'lowest'} "
            f"`{numbers[0].name()}` means one row's value or each `{entity}`'s total or "
            f"average (`{entity}` repeats over rows): say “in total”, “on average” or "
            "“in a single row”"
        )
    if len(aggs) > 1:
        raise Refusal("one statistic to rank by")
    if aggs and aggs[0] not in _GROUP_AGG:
        raise Refusal(f"ranking by the {_agg_label(aggs[0])}")
    if aggs and not entity:
        raise Refusal("what is ranked (name the column whose values are compared)")


def extreme_title(ctx: Ctx) -> str:
    measure = ctx.measure
    target = _rank_target(ctx)
    word = "highest" if measure.descending else "lowest"
    return f"The {word} {target.name() if target else 'count'}"


def extreme_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    measure = ctx.query.measure
    assert measure is not None
    target = _rank_target(ctx)
    entity = measure.entity
    how = "idxmax" if measure.descending else "idxmin"
    aggs = [a for a in measure.aggs if a != "count"]
    lines: list[str] = []
    if target is None:  # the value with the most rows
        lines += [
            f"counts = rows[{q(entity or '')}].value_counts()",
            f"best = counts.{how}()",
            "display(counts.to_frame().head(10))",
        ]
        return lines, [("best", "best"), ("value", "int(counts[best])"),
                       ("ties", "int((counts == counts[best]).sum())"),
                       ("groups", "len(counts)")]
    values = ctx.values_code(target, "rows")
    if ctx.query.groups:
        by, keys = ctx.group_keys()
        if aggs:
            raise Refusal("a ranking of totals inside each group")
        lines += [
            f"values = {values}",
            f"best = values.groupby({by}).{how}().dropna()",
            "picked = rows.loc[best.astype(rows.index.dtype)]" if False else
            "picked = rows.loc[best.tolist()]",
            "display(picked)",
        ]
        return lines, [("keys", q("|".join(keys))), ("picked", 'picked.to_dict(orient="split")'),
                       ("values", "values.loc[best.tolist()].tolist()"),
                       ("group_values", "best.index.tolist()")]
    if aggs:
        agg = aggs[0]
        lines += [
            f"totals = {values}.groupby(rows[{q(entity or '')}]).{_GROUP_AGG[agg]}()",
            f"best = totals.{how}()",
            f"display(totals.sort_values(ascending={not measure.descending}).head(10)"
            ".to_frame())",
        ]
        return lines, [("best", "best"), ("value", "totals[best]"),
                       ("ties", "int((totals == totals[best]).sum())"),
                       ("groups", "len(totals)"), ("agg", q(agg))]
    lines += [
        f"values = {values}",
        f"best = values.{how}()  # the first such row if several tie",
        "row = rows.loc[best]",
        "display(row.to_frame().T)",
    ]
    results = [("value", "values[best]"), ("ties", "int((values == values[best]).sum())"),
               ("row_label", "best"), ("row", "row.to_dict()"),
               ("n_values", "int(values.notna().sum())")]
    if entity == "__date__":
        date = ctx.table.date_columns[0]
        results.append(("best", f"row[{q(date)}]"))
    elif entity:
        results.append(("best", f"row[{q(entity)}]"))
    return lines, results


def extreme_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    measure = ctx.measure
    target = _rank_target(ctx)
    word = "highest" if measure.descending else "lowest"
    entity = measure.entity
    tie = ""
    if data.get("ties", 1) > 1:
        tie = f" ({data['ties']} tie at that value; the first is shown)"
    if target is None:
        return (f"The `{entity}` with the {'most' if measure.descending else 'fewest'} rows is "
                f"**{fmt(data['best'])}** ({data['value']} rows{tie}; {scope(ctx, data)}).")
    if "picked" in data:
        picked = data["picked"]
        return (f"**The row with the {word} `{target.name()}` in each "
                f"{', '.join(g.name() for g in ctx.query.groups)}** ({scope(ctx, data)}):"
                "\n\n" + _split(picked, "row"))
    if "agg" in data:
        return (f"The `{entity}` with the {word} {_agg_label(data['agg'])} of "
                f"`{target.name()}` is **{fmt(data['best'])}** ({ctx.f(data['value'])}{tie}; "
                f"{plural(data['groups'], 'group')}; {scope(ctx, data)}).")
    value = ctx.f(data["value"])
    if entity == "__date__":
        date = ctx.table.date_columns[0]
        return (f"The {word} `{target.name()}` is **{value}**, on **{fmt(data['best'])}** "
                f"(`{date}`){tie} ({scope(ctx, data)}).")
    if entity:
        return (f"The `{entity}` with the {word} `{target.name()}` is **{fmt(data['best'])}** "
                f"(`{target.name()}` = {value}{tie}; {scope(ctx, data)}).")
    row = data["row"]
    cells = [[k, v] for k, v in row.items()]
    return (f"The row with the {word} `{target.name()}` ({value}) is row "
            f"{fmt(data['row_label'])}{tie} ({scope(ctx, data)}):\n\n"
            + table(["column", "value"], cells, as_is=True))


def top_check(ctx: Ctx) -> None:
    measure = ctx.measure
    numbers = [t for t in ctx.query.targets if ctx.is_number(t)]
    labels = [t for t in ctx.query.targets if not ctx.is_number(t)]
    aggs = [a for a in measure.aggs if a not in ("count",)]
    if "mode" in measure.aggs:
        return
    if len(numbers) > 1 and not labels:
        raise Refusal(f"which one of {names(numbers)} to rank by")
    if not numbers and not labels:
        raise Refusal("what to rank by (e.g. “top 10 rows by revenue”)")
    if labels and len(labels) > 1:
        raise Refusal(f"which one of {names(labels)} is ranked")
    if labels and numbers and not aggs and not ctx.table.unique_per_row(labels[0].name()):
        raise Refusal(
            f"whether `{labels[0].name()}` values are ranked by one row's "
            f"`{numbers[0].name()}` or by their total or average (`{labels[0].name()}` "
            "repeats over rows): say “by total …” or “by average …”"
        )
    if aggs and (len(aggs) > 1 or aggs[0] not in _GROUP_AGG):
        raise Refusal("one statistic to rank by")
    if ctx.query.groups:
        raise Refusal("a ranking inside each group")


def top_title(ctx: Ctx) -> str:
    measure = ctx.measure
    which = "Top" if measure.descending else "Bottom"
    return f"{which} {measure.n}"


def top_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    measure = ctx.measure
    numbers = [t for t in ctx.query.targets if ctx.is_number(t)]
    labels = [t for t in ctx.query.targets if not ctx.is_number(t)]
    aggs = [a for a in measure.aggs if a not in ("count",)]
    asc = not measure.descending
    n = measure.n or 10
    if "mode" in measure.aggs or (labels and not numbers):
        column = labels[0].name() if labels else numbers[0].name()
        return [
            f"counts = rows[{q(column)}].value_counts(ascending={asc})",
            f"top = counts.head({n})",
            "display(top.to_frame())",
        ], [("labels", "top.index.tolist()"), ("values", "top.tolist()"),
            ("groups", "len(counts)"), ("what", q("rows"))]
    target = numbers[0]
    values = ctx.values_code(target, "rows")
    if labels and aggs:
        label = labels[0].name()
        return [
            f"totals = {values}.groupby(rows[{q(label)}]).{_GROUP_AGG[aggs[0]]}()",
            f'top = totals.sort_values(ascending={asc}, kind="stable").head({n})',
            "display(top.to_frame())",
        ], [("labels", "top.index.tolist()"), ("values", "top.tolist()"),
            ("groups", "len(totals)"), ("what", q(aggs[0]))]
    return [
        "# A stable sort keeps tied rows in file order; rows without a value go last.",
        f'order = {values}.sort_values(ascending={asc}, kind="stable").index',
        f"top = rows.loc[order].head({n})",
        "display(top)",
    ], [("shown", 'top.to_dict(orient="split")'), ("column", q(target.name()))]


def top_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    measure = ctx.measure
    which = "Top" if measure.descending else "Bottom"
    if "labels" in data:
        labels = [t for t in ctx.query.targets if not ctx.is_number(t)] or list(
            ctx.query.targets)
        label = labels[0].name()
        numbers = [t for t in ctx.query.targets if ctx.is_number(t)]
        header = "rows" if data["what"] == "rows" else (
            f"{numbers[0].name()} ({data['what']})")
        rows = [[i + 1, lab, v] for i, (lab, v) in enumerate(zip(data["labels"], data["values"],
                                                                  strict=False))]
        head = (f"**{which} {len(rows)} `{label}` values by {header}** (of "
                f"{plural(data['groups'], 'value')}; {scope(ctx, data)}):")
        return head + "\n\n" + table(["rank", label, header], rows)
    shown = data["shown"]
    column = data["column"]
    order = "largest" if measure.descending else "smallest"
    head = (f"**{which} {len(shown['data'])} rows by `{column}`** ({order} first; "
            f"{scope(ctx, data)}):")
    text = head + "\n\n" + _split(shown, "row")
    if column in shown["columns"] and shown["data"]:
        position = shown["columns"].index(column)
        text += f"\n\nThe {order} `{column}` is {fmt(shown['data'][0][position])}."
    return text


def sort_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    measure = ctx.measure
    sort_by = ctx.query.extras.get("sort_by") or ()
    exprs = [e for e, _ in sort_by] or list(ctx.query.targets)
    if not exprs:
        raise Refusal("which column to sort by")
    asc = not measure.descending
    n = measure.n or 10
    keys = ", ".join(q(e.name()) for e in exprs)
    lines = []
    if all((e.is_column and ctx.table.is_numeric(e.column or "")) or ctx.table.kind(
            e.column or "") in ("text", "date") for e in exprs):
        lines.append(f'ordered = rows.sort_values([{keys}], ascending={asc}, kind="stable")')
    else:
        raise Refusal("sorting by an expression")
    lines.append(f"display(ordered.head({n}))")
    return lines, [("shown", f'ordered.head({n}).to_dict(orient="split")')]


def sort_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    sort_by = ctx.query.extras.get("sort_by") or ()
    exprs = [e for e, _ in sort_by] or list(ctx.query.targets)
    order = "descending" if ctx.measure.descending else "ascending"
    shown = data["shown"]
    return (f"**Rows sorted by {names(exprs)} ({order})** — the first {len(shown['data'])} "
            f"({scope(ctx, data)}):\n\n" + _split(shown, "row"))


# --- tests --------------------------------------------------------------------------------


def strength(r: float) -> str:
    size = abs(r)
    word = ("very strong" if size >= 0.8 else "strong" if size >= 0.6 else "moderate"
            if size >= 0.4 else "weak" if size >= 0.2 else "very weak")
    return f"{word} {'positive' if r > 0 else 'negative'}" if r else "none"


STRENGTH_SCALE = ("|r| ≥ 0.8 very strong, ≥ 0.6 strong, ≥ 0.4 moderate, ≥ 0.2 weak, "
                  "below very weak")


def _verdict(ctx: Ctx, p: float | None, reject: str, keep: str) -> str:
    alpha = ctx.query.measure.alpha if ctx.query.measure else 0.05
    if p is None:
        return "undefined (too few values)"
    if p < alpha:
        return f"p = {_p(p)} < alpha = {alpha:g}: {reject}"
    return f"p = {_p(p)} ≥ alpha = {alpha:g}: {keep}"


def _p(p: float) -> str:
    if p == 0:
        return "0"
    if p < 0.0001:
        return f"{p:.3g}"
    return f"{p:.4f}".rstrip("0").rstrip(".") if p >= 0.001 else f"{p:.4g}"


def _method(ctx: Ctx) -> str:
    method = ctx.measure.method or "pearson"
    if method not in ("pearson", "spearman", "kendall"):
        raise Refusal(f"a {method} correlation")
    return method


_CORR_FN = {"pearson": "pearsonr", "spearman": "spearmanr", "kendall": "kendalltau"}


def correlation_check(ctx: Ctx) -> None:
    targets = list(ctx.query.targets)
    for t in targets:
        ctx.require_numbers(t, "correlate it")
    if len(targets) == 0 and not _all_numeric(ctx) and ctx.measure.kind != "corr_matrix":
        raise Refusal("which two columns to correlate")
    text = ctx.query.extras.get("text", "")
    if len(targets) == 1 and not re.search(r"\b(?:other|all|every|each|most|rest|any)\b", text,
                                           re.I):
        raise Refusal(f"the second column to correlate with `{targets[0].name()}`")
    if len(targets) == 1 and ctx.query.groups:
        raise Refusal("correlations of one column with the others per group")
    if len(targets) > 2 and ctx.query.groups:
        raise Refusal("a correlation matrix per group")


def correlation_kind(ctx: Ctx) -> str:
    n = len(ctx.query.targets)
    return "pair" if n == 2 else "target" if n == 1 else "matrix"


def correlation_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    method = _method(ctx)
    fn = _CORR_FN[method]
    kind = correlation_kind(ctx)
    if kind == "pair":
        a, b = ctx.query.targets
        lines = [
            "pairs = pd.DataFrame(",
            "    {",
            f"        {q(a.name())}: {ctx.values_code(a, 'rows')},",
            f"        {q(b.name())}: {ctx.values_code(b, 'rows')},",
            "    }",
            ").dropna()  # only rows that have both values",
        ]
        if ctx.query.groups:
            by, keys = ctx.group_keys("rows.loc[pairs.index]")
            lines += [
                "found = {}",
                f"for key, part in pairs.groupby({by}):",
                "    if len(part) > 2:",
                f"        r, p = stats.{fn}(part[{q(a.name())}], part[{q(b.name())}])",
                "        found[key] = {\"r\": r, \"p\": p, \"n\": len(part)}",
                "    else:",
                "        found[key] = {\"r\": None, \"p\": None, \"n\": len(part)}",
                "report = pd.DataFrame(found).T",
                "display(report)",
            ]
            return lines, [("keys", q("|".join(keys))),
                           ("table", 'report.reset_index().to_dict(orient="split")')]
        lines += [
            f"r, p = stats.{fn}(pairs[{q(a.name())}], pairs[{q(b.name())}])",
            f'print(f"{method} r = {{r:.4f}}, p = {{p:.4g}}, n = {{len(pairs)}}")',
        ]
        return lines, [("r", "r"), ("p", "p"), ("pairs", "len(pairs)")]
    targets = list(ctx.query.targets) or [Expr.of(c) for c in ctx.table.numeric_columns]
    lines = ["values = pd.DataFrame(", "    {"]
    lines += [f"        {q(t.name())}: {ctx.values_code(t, 'rows')}," for t in targets]
    lines += ["    }", ")"]
    if kind == "target":
        (target,) = targets
        lines = ["values = rows.select_dtypes(include=\"number\").copy()",
                 f"values[{q(target.name())}] = {ctx.values_code(target, 'rows')}"]
        lines += [
            f"corr = values.corr(method={q(method)})[{q(target.name())}].drop({q(target.name())})",
            "corr = corr.dropna().sort_values(key=abs, ascending=False)",
            f'display(corr.to_frame("r with {target.name()}"))',
        ]
        return lines, [("labels", "corr.index.tolist()"), ("values", "corr.tolist()")]
    lines += [
        f"corr = values.corr(method={q(method)})",
        "display(corr.round(3))",
        "# Each pair once (above the diagonal), strongest first, whatever the sign.",
        "upper = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1))",
        "pairs = upper.stack().sort_values(key=abs, ascending=False)",
    ]
    return lines, [("matrix", 'corr.to_dict(orient="split")'),
                   ("pairs", "[[a, b, r] for (a, b), r in pairs.items()]")]


def correlation_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    method = _method(ctx)
    name = method.capitalize()
    kind = correlation_kind(ctx)
    if kind == "pair":
        a, b = ctx.query.targets
        if "table" in data:
            split = data["table"]
            rows = [[*r[:-3], _cell(ctx, r[-3]), _p(r[-2]) if r[-2] is not None else "n/a",
                     r[-1]] for r in split["data"]]
            header = [*split["columns"][:-3], "r", "p-value", "n"]
            return (f"**{name} correlation of `{a.name()}` and `{b.name()}` per "
                    f"{', '.join(g.name() for g in ctx.query.groups)}** ({scope(ctx, data)}):"
                    "\n\n" + table(header, rows))
        r, p = data["r"], data["p"]
        if r is None:
            return (f"The {name} correlation of `{a.name()}` and `{b.name()}` is undefined "
                    f"({plural(data['pairs'], 'row')} with both values).")
        text = (f"The {name} correlation between `{a.name()}` and `{b.name()}` is "
                f"**r = {ctx.f(r)}** ({strength(r)}; p-value = {_p(p)}; "
                f"{scope(ctx, data, data['pairs'])} with both values).")
        if ctx.measure.alpha != 0.05 or ctx.query.extras.get("significance"):
            text += "\n\n" + _verdict(ctx, p, "the correlation is statistically significant",
                                      "the correlation is not statistically significant") + "."
        else:
            significant = p is not None and p < 0.05
            text += (f"\n\nAt alpha = 0.05 the correlation is "
                     f"{'' if significant else 'not '}statistically significant (p = {_p(p)}).")
        return text + ctx.coerced_note(list(ctx.query.targets))
    if kind == "target":
        (target,) = ctx.query.targets
        ranked = list(zip(data["labels"], [_cell(ctx, v) for v in data["values"]], strict=False))
        return (f"**{name} correlation of `{target.name()}` with the other numeric columns**, "
                f"strongest first ({scope(ctx, data)}):\n\n" + table(["column", "r"], ranked))
    matrix = data["matrix"]
    if len(matrix["columns"]) < 2:
        return "There are fewer than two numeric columns: nothing to correlate."
    from pyexec.worker.agent.planner.markdown import split_table

    text = f"**{name} correlation matrix** ({scope(ctx, data)}):\n\n" + split_table(matrix, "")
    strongest = [p for p in data["pairs"] if p[2] is not None][:3]
    if strongest:
        text += "\n\nStrongest pairs: " + "; ".join(
            f"`{a}` and `{b}`: r = {fmt(r)} ({strength(r)})" for a, b, r in strongest) + "."
    return text


def normality_check(ctx: Ctx) -> None:
    targets = list(ctx.query.targets)
    if not targets:
        raise Refusal("which column to test for normality")
    for t in targets:
        ctx.require_numbers(t, "test it for normality")
    method = ctx.measure.method
    if method not in (None, "shapiro", "dagostino"):
        raise Refusal(f"a {method} normality test")


def normality_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    method = ctx.measure.method or "shapiro"
    fn = "stats.shapiro" if method == "shapiro" else "stats.normaltest"
    lines = ["found = {}"]
    if ctx.query.groups:
        (target,) = ctx.query.targets[:1]
        by, _ = ctx.group_keys()
        lines += [
            f"values = {ctx.values_code(target, 'rows')}",
            f"for key, part in values.dropna().groupby({by}):",
            f"    statistic, p = {fn}(part)",
            '    found[str(key)] = {"statistic": statistic, "p": p, "n": len(part)}',
        ]
    else:
        for target in ctx.query.targets:
            lines += [
                f"values = {ctx.values_code(target, 'rows')}.dropna()",
                f"statistic, p = {fn}(values)",
                f'found[{q(target.name())}] = {{"statistic": statistic, "p": p, '
                '"n": len(values)}',
            ]
    lines += ["report = pd.DataFrame(found).T", "display(report)"]
    return lines, [("tests", "found"), ("method", q(method))]


def normality_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    method = data["method"]
    test = "Shapiro-Wilk" if method == "shapiro" else "D'Agostino-Pearson (scipy normaltest)"
    parts = []
    for name, found in data["tests"].items():
        label = f"`{name}`" if not ctx.query.groups else (
            f"`{ctx.query.targets[0].name()}` where {ctx.query.groups[0].name()} = {name}")
        verdict = _verdict(ctx, found["p"], "not normally distributed (normality rejected)",
                           "consistent with a normal distribution (normality not rejected)")
        parts.append(f"- {label}: **{verdict}** (W = {ctx.f(found['statistic'])}, "
                     f"n = {found['n']})" if method == "shapiro" else
                     f"- {label}: **{verdict}** (statistic = {ctx.f(found['statistic'])}, "
                     f"n = {found['n']})")
    large = any(f["n"] > 5000 for f in data["tests"].values()) and method == "shapiro"
    note = ("\n\n*Shapiro-Wilk's p-value is approximate above 5,000 values.*" if large else "")
    return (f"**{test} test of normality** ({scope(ctx, data)}):\n\n" + "\n".join(parts) + note
            + ctx.coerced_note(list(ctx.query.targets)))


def _two_groups(ctx: Ctx) -> tuple[str, tuple[Any, ...] | None]:
    """The column that splits the rows in two for a t-test, and the two values if named."""
    groups = [g for g in ctx.query.groups if g.period is None]
    named = [c for c in ctx.query.filters if c.op == "in" and c.kind in ("text", "number")]
    if len(groups) == 1:
        column = groups[0].column
        values = next((c.value for c in named if c.expr.column == column), None)
        return column, values
    if len(named) == 1:
        return named[0].expr.column or "", named[0].value
    categorical = [t.column for t in ctx.query.targets if (t.column and not ctx.is_number(t))
                   or (t.column and ctx.table.binary(t.column))]
    if len(categorical) == 1:
        return categorical[0] or "", None
    raise Refusal("which column splits the rows into the two groups to compare")


def ttest_check(ctx: Ctx) -> None:
    method = ctx.measure.method
    if method == "paired":
        numbers = [t for t in ctx.query.targets if ctx.is_number(t)]
        if len(numbers) != 2:
            raise Refusal("the two columns of a paired t-test")
        return
    _ttest_parts(ctx)


def _ttest_parts(ctx: Ctx) -> tuple[Expr, str, tuple[Any, ...] | None]:
    column, values = _two_groups(ctx)
    numbers = [t for t in ctx.query.targets if ctx.is_number(t) and t.column != column]
    if len(numbers) != 1:
        raise Refusal("the one numeric column whose means are compared")
    facts = ctx.table.facts(column)
    count = len(values) if values else len(facts.values or ()) if facts.values else None
    if count is not None and count > 2:
        raise Refusal(f"a t-test compares two groups and `{column}` has {count} values: "
                      "name two of them, or ask for an ANOVA")
    if count is None and not ctx.table.binary(column):
        raise Refusal(f"the two values of `{column}` to compare")
    return numbers[0], column, values


def ttest_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    method = ctx.measure.method
    if method == "paired":
        a, b = [t for t in ctx.query.targets if ctx.is_number(t)]
        return [
            "pairs = pd.DataFrame({"
            f"{q(a.name())}: {ctx.values_code(a, 'rows')}, {q(b.name())}: "
            f"{ctx.values_code(b, 'rows')}}}).dropna()",
            f"statistic, p = stats.ttest_rel(pairs[{q(a.name())}], pairs[{q(b.name())}])",
            'print(f"t = {statistic:.4f}, p = {p:.4g}, n = {len(pairs)} pairs")',
        ], [("t", "statistic"), ("p", "p"), ("n", "len(pairs)"),
            ("means", f"[pairs[{q(a.name())}].mean(), pairs[{q(b.name())}].mean()]"),
            ("labels", f"[{q(a.name())}, {q(b.name())}]")]
    target, column, named = _ttest_parts(ctx)
    equal = "False" if method == "welch" else "True"
    order = ""
    if named:
        # In the order the request names them: the difference is the first minus the second.
        keys = ", ".join(repr(v) for v in named)
        order = (
            "\n# In the order the request names them.\n"
            f"groups = {{k: groups[k] for v in ({keys},) for k in groups "
            "if k == v or str(k).casefold() == str(v).casefold()}"
        )
    return [
        f"values = {ctx.values_code(target, 'rows')}",
        f"groups = {{key: part.dropna() for key, part in values.groupby(rows[{q(column)}])}}"
        + order,
        "(a, first), (b, second) = groups.items()",
        f"statistic, p = stats.ttest_ind(first, second, equal_var={equal})",
        'print(f"t = {statistic:.4f}, p = {p:.4g}")',
    ], [("t", "statistic"), ("p", "p"), ("labels", "[a, b]"),
        ("means", "[first.mean(), second.mean()]"), ("sizes", "[len(first), len(second)]")]


def ttest_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    method = ctx.measure.method
    a, b = data["labels"]
    ma, mb = data["means"]
    if method == "paired":
        name = "Paired t-test"
        verdict = _verdict(ctx, data["p"], "the means differ significantly",
                           "no significant difference between the means")
        return (f"**{name}** of `{a}` and `{b}` ({scope(ctx, data, data['n'])} pairs): t = "
                f"{ctx.f(data['t'])}, **{verdict}** (means {ctx.f(ma)} and {ctx.f(mb)}).")
    target, column, _ = _ttest_parts(ctx)
    name = "Welch's t-test (unequal variances)" if method == "welch" else (
        "Independent two-sample t-test (Student's, equal variances)")
    na, nb = data["sizes"]
    verdict = _verdict(ctx, data["p"], "the means differ significantly",
                       "no significant difference between the means")
    return (f"**{name}** of `{target.name()}` between `{column}` = {fmt(a)} (mean "
            f"{ctx.f(ma)}, n = {na}) and `{column}` = {fmt(b)} (mean {ctx.f(mb)}, n = {nb}): "
            f"t = {ctx.f(data['t'])}, **{verdict}** ({scope(ctx, data)}).")


def _categorical(ctx: Ctx, expr: Expr) -> bool:
    column = expr.column or ""
    facts = ctx.table.facts(column)
    return bool(column) and (ctx.table.kind(column) in ("text", "bool") or (
        facts.values is not None and len(facts.values) <= 20))


def chi2_check(ctx: Ctx) -> None:
    columns = [t for t in ctx.query.targets] + [Expr.of(g.column) for g in ctx.query.groups]
    if len(columns) != 2:
        raise Refusal("the two categorical columns of a chi-square test")
    for c in columns:
        if not _categorical(ctx, c):
            raise Refusal(f"`{c.name()}` has too many values for a chi-square test")


def chi2_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    a, b = [*ctx.query.targets, *[Expr.of(g.column) for g in ctx.query.groups]]
    return [
        f"observed = pd.crosstab(rows[{q(a.name())}], rows[{q(b.name())}])",
        "display(observed)",
        "# scipy applies Yates' continuity correction to 2x2 tables (its default).",
        "chi2, p, dof, expected = stats.chi2_contingency(observed)",
        'print(f"chi2 = {chi2:.4f}, p = {p:.4g}, dof = {dof}")',
    ], [("chi2", "chi2"), ("p", "p"), ("dof", "int(dof)"), ("n", "int(observed.values.sum())"),
        ("shape", "list(observed.shape)")]


def chi2_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    a, b = [*ctx.query.targets, *[Expr.of(g.column) for g in ctx.query.groups]]
    verdict = _verdict(ctx, data["p"], f"`{a.name()}` and `{b.name()}` are not independent",
                       f"no evidence against independence of `{a.name()}` and `{b.name()}`")
    correction = " (with Yates' continuity correction)" if data["shape"] == [2, 2] else ""
    return (f"**Chi-square test of independence**{correction}: χ² = {ctx.f(data['chi2'])}, "
            f"dof = {data['dof']}, **{verdict}** ({scope(ctx, data, data['n'])} with both "
            "values).")


def anova_check(ctx: Ctx) -> None:
    groups = [g for g in ctx.query.groups if g.period is None]
    categorical = [t for t in ctx.query.targets if not ctx.is_number(t)]
    numbers = [t for t in ctx.query.targets if ctx.is_number(t)]
    if len(groups) + len(categorical) != 1:
        raise Refusal("the one column whose groups an ANOVA compares")
    if len(numbers) != 1:
        raise Refusal("the one numeric column an ANOVA compares across groups")


def _anova_parts(ctx: Ctx) -> tuple[Expr, str]:
    groups = [g.column for g in ctx.query.groups if g.period is None]
    categorical = [t.name() for t in ctx.query.targets if not ctx.is_number(t)]
    numbers = [t for t in ctx.query.targets if ctx.is_number(t)]
    return numbers[0], (groups or categorical)[0]


def anova_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    target, column = _anova_parts(ctx)
    return [
        f"values = {ctx.values_code(target, 'rows')}",
        f"groups = [part.dropna() for _, part in values.groupby(rows[{q(column)}])]",
        "statistic, p = stats.f_oneway(*groups)",
        f"means = values.groupby(rows[{q(column)}]).agg([\"mean\", \"count\"])",
        "display(means)",
        'print(f"F = {statistic:.4f}, p = {p:.4g}")',
    ], [("f", "statistic"), ("p", "p"), ("groups", "len(groups)"),
        ("means", 'means.reset_index().to_dict(orient="split")')]


def anova_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    target, column = _anova_parts(ctx)
    verdict = _verdict(ctx, data["p"], "the group means differ significantly",
                       "no significant difference between the group means")
    means = data["means"]
    rows = [[r[0], _cell(ctx, r[1]), r[2]] for r in means["data"]]
    return (f"**One-way ANOVA** of `{target.name()}` across the {data['groups']} values of "
            f"`{column}`: F = {ctx.f(data['f'])}, **{verdict}** ({scope(ctx, data)}).\n\n"
            + table([column, "mean", "n"], rows))


def regression_check(ctx: Ctx) -> None:
    targets = list(ctx.query.targets)
    if len(targets) < 2:
        raise Refusal("the outcome and at least one predictor of the regression")
    for t in targets:
        ctx.require_numbers(t, "use it in a linear regression")
    if ctx.query.groups:
        raise Refusal("a regression per group")


def regression_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    y, *xs = ctx.query.targets
    lines = ["data = pd.DataFrame(", "    {"]
    lines += [f"        {q(t.name())}: {ctx.values_code(t, 'rows')}," for t in (y, *xs)]
    lines += ["    }", ").dropna()  # rows with every value"]
    predictors = ", ".join(q(x.name()) for x in xs)
    lines += [
        f"model = sm.OLS(data[{q(y.name())}], sm.add_constant(data[[{predictors}]])).fit()",
        "print(model.summary())",
    ]
    return lines, [
        ("params", "model.params.to_dict()"),
        ("pvalues", "model.pvalues.to_dict()"),
        ("r2", "model.rsquared"),
        ("r2_adj", "model.rsquared_adj"),
        ("n", "int(model.nobs)"),
    ]


def regression_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    y, *xs = ctx.query.targets
    params = data["params"]
    pvalues = data["pvalues"]
    rows = [["intercept", _cell(ctx, params.get("const")), _p(pvalues.get("const") or 0)]]
    rows += [[f"`{x.name()}`", _cell(ctx, params.get(x.name())), _p(pvalues.get(x.name()) or 0)]
             for x in xs]
    equation = f"{y.name()} = {ctx.f(params.get('const'))}" + "".join(
        f" {'+' if (params.get(x.name()) or 0) >= 0 else '-'} "
        f"{ctx.f(abs(params.get(x.name()) or 0))} * {x.name()}" for x in xs)
    kind = "Simple" if len(xs) == 1 else "Multiple"
    return (f"**{kind} linear regression (OLS) of `{y.name()}` on {names(xs)}**: R² = "
            f"**{ctx.f(data['r2'])}** (adjusted {ctx.f(data['r2_adj'])}; "
            f"{scope(ctx, data, data['n'])} with every value).\n\n`{equation}`\n\n"
            + table(["term", "coefficient", "p-value"], rows))


def outliers_check(ctx: Ctx) -> None:
    if not ctx.query.targets:
        raise Refusal("which column to look for outliers in")
    for t in ctx.query.targets:
        ctx.require_numbers(t, "look for outliers")
    if ctx.query.groups:
        raise Refusal("outliers per group")


def outliers_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    measure = ctx.measure
    k = measure.threshold
    lines = ["found = {}", "listed = {}"]
    for target in ctx.query.targets:
        values = ctx.values_code(target, "rows")
        lines.append(f"values = {values}")
        if measure.method == "iqr":
            lines += [
                "q1, q3 = values.quantile(0.25), values.quantile(0.75)",
                f"low, high = q1 - {k:g} * (q3 - q1), q3 + {k:g} * (q3 - q1)",
                "outside = (values < low) | (values > high)",
            ]
        else:
            lines += [
                "# z-scores with the population standard deviation (ddof=0, as scipy's zscore).",
                "z = (values - values.mean()) / values.std(ddof=0)",
                f"outside = z.abs() > {k:g}",
                f"low, high = values.mean() - {k:g} * values.std(ddof=0), "
                f"values.mean() + {k:g} * values.std(ddof=0)",
            ]
        lines += [
            f"found[{q(target.name())}] = {{",
            '    "count": int(outside.sum()), "low": low, "high": high,',
            '    "n": int(values.notna().sum()), "mean": values.mean(),',
            '    "mean_without": values[~outside].mean(), "std_without": values[~outside].std(),',
            "}",
            f"listed[{q(target.name())}] = values[outside].sort_values().tolist()[:{MAX_LISTED}]",
            f"display(rows[outside].head({MAX_LISTED}))",
        ]
    return lines, [("found", "found"), ("listed", "listed")]


def outliers_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    measure = ctx.measure
    rule = (f"outside Q1 - {measure.threshold:g}x IQR … Q3 + {measure.threshold:g}x IQR"
            if measure.method == "iqr" else
            f"|z-score| > {measure.threshold:g} (population standard deviation)")
    parts = []
    for name, found in data["found"].items():
        listed = data["listed"].get(name) or []
        values = ", ".join(ctx.f(v) for v in listed)
        more = f" (first {len(listed)} shown)" if found["count"] > len(listed) else ""
        line = (f"- `{name}`: **{found['count']}** outliers of {found['n']} values (bounds "
                f"{ctx.f(found['low'])} to {ctx.f(found['high'])})")
        if found["count"]:
            line += f": {values}{more}; mean {ctx.f(found['mean'])} with them, " \
                    f"{ctx.f(found['mean_without'])} without"
        parts.append(line + ".")
    return f"**Outliers, {rule}** ({scope(ctx, data)}):\n\n" + "\n".join(parts)


# --- plots --------------------------------------------------------------------------------


def plot_check(ctx: Ctx) -> None:
    kind = ctx.measure.plot or "hist"
    numbers = [t for t in ctx.query.targets if ctx.is_number(t)]
    if kind not in ("hist", "bar", "line", "scatter", "box"):
        raise Refusal(f"a {kind} plot")
    if kind == "hist" and (len(numbers) != 1 or len(ctx.query.targets) != 1):
        raise Refusal("the one numeric column to draw a histogram of")
    if kind == "scatter" and len(numbers) != 2:
        raise Refusal("the two numeric columns of a scatter plot")
    if kind == "bar" and len(ctx.query.groups) != 1 and not (
        len(ctx.query.targets) == 1 and not numbers
    ):
        raise Refusal("the column whose values the bars stand for (e.g. “bar chart of revenue "
                      "by region”)")
    if kind == "line" and (len(numbers) != 1 or (not ctx.table.date_columns and not
                           ctx.query.groups)):
        raise Refusal("the numeric column and the dates of a line chart")
    if kind == "box" and len(numbers) != 1:
        raise Refusal("the one numeric column of a box plot")


def plot_code(ctx: Ctx) -> tuple[list[str], list[tuple[str, str]]]:
    measure = ctx.measure
    kind = measure.plot or "hist"
    numbers = [t for t in ctx.query.targets if ctx.is_number(t)]
    lines = ["fig, ax = plt.subplots(figsize=(8, 4.5))"]
    if kind == "hist":
        (t,) = numbers
        lines += [
            f"values = {ctx.values_code(t, 'rows')}.dropna()",
            'counts, edges, _ = ax.hist(values, bins=20, color="#4c72b0", edgecolor="white")',
            f'ax.set(title={q("Distribution of " + t.name())}, xlabel={q(t.name())}, '
            'ylabel="rows")',
            "plt.show()",
        ]
        return lines, [("n", "len(values)"), ("bins", "len(counts)"), ("min", "values.min()"),
                       ("max", "values.max()"),
                       ("mean", "values.mean()"), ("median", "values.median()")]
    if kind == "scatter":
        a, b = numbers
        lines += [
            f"x, y = {ctx.values_code(a, 'rows')}, {ctx.values_code(b, 'rows')}",
            "ax.scatter(x, y, s=12, alpha=0.7)",
            f"ax.set(xlabel={q(a.name())}, ylabel={q(b.name())})",
            "plt.show()",
            "both = x.notna() & y.notna()",
        ]
        return lines, [("n", "int(both.sum())"), ("r", "x[both].corr(y[both])")]
    if kind == "box":
        (t,) = numbers
        values = ctx.values_code(t, "rows")
        if ctx.query.groups:
            by, _ = ctx.group_keys()
            lines += [
                f"parts = {{str(k): v.dropna() for k, v in {values}.groupby({by})}}",
                "ax.boxplot(list(parts.values()), labels=list(parts))",
            ]
        else:
            lines += [f"parts = {{{q(t.name())}: {values}.dropna()}}",
                      "ax.boxplot(list(parts.values()), labels=list(parts))"]
        lines += [f"ax.set(ylabel={q(t.name())})", "plt.show()"]
        return lines, [("medians", "{k: v.median() for k, v in parts.items()}"),
                       ("sizes", "{k: len(v) for k, v in parts.items()}")]
    if kind == "line":
        (t,) = numbers
        if ctx.query.groups:
            by, _ = ctx.group_keys()
        else:
            date = ctx.table.date_columns[0]
            by = f"rows[{q(date)}]" if ctx.table.parsed_as_dates(date) else (
                f'pd.to_datetime(rows[{q(date)}], errors="coerce")')
        agg = (measure.aggs or ("mean",))[0]
        agg = agg if agg in _GROUP_AGG else "mean"
        lines += [
            f"series = {ctx.values_code(t, 'rows')}.groupby({by}).{agg}()",
            "series.plot(ax=ax)",
            f"ax.set(ylabel={q(t.name() + ' (' + agg + ')')})",
            "plt.show()",
        ]
        return lines, [("points", "len(series)"), ("low", "series.min()"),
                       ("high", "series.max()"), ("agg", q(agg))]
    # bar
    if len(ctx.query.groups) == 1 and numbers:
        (t,) = numbers[:1]
        by, _ = ctx.group_keys()
        agg = next((a for a in measure.aggs if a in _GROUP_AGG), "mean")
        lines += [
            f"bars = {ctx.values_code(t, 'rows')}.groupby({by}).{agg}()"
            '.sort_values(ascending=False)',
        ]
        label = f"{t.name()} ({agg})"
    else:
        column = (ctx.query.groups[0].column if ctx.query.groups else
                  ctx.query.targets[0].name())
        lines.append(f"bars = rows[{q(column)}].value_counts()")
        label = "rows"
    lines += [
        "bars.head(30).plot.bar(ax=ax, color=\"#4c72b0\")",
        f"ax.set(ylabel={q(label)})",
        "fig.tight_layout()",
        "plt.show()",
    ]
    return lines, [("table", 'bars.rename(' + q(label) + ').reset_index().to_dict(orient="split")'),
                   ("keys", q("x"))]


def plot_answer(ctx: Ctx, data: dict[str, Any]) -> str:
    kind = ctx.measure.plot or "hist"
    numbers = [t for t in ctx.query.targets if ctx.is_number(t)]
    if kind == "hist":
        return (f"**Histogram of `{numbers[0].name()}`** (20 bins; {data['n']} values from "
                f"{ctx.f(data['min'])} to {ctx.f(data['max'])}; mean {ctx.f(data['mean'])}, "
                f"median {ctx.f(data['median'])}; {scope(ctx, data)}).")
    if kind == "scatter":
        a, b = numbers
        return (f"**Scatter plot of `{b.name()}` against `{a.name()}`** ({data['n']} points; "
                f"Pearson r = {ctx.f(data['r'])}; {scope(ctx, data)}).")
    if kind == "box":
        rows = [[k, _cell(ctx, v), data["sizes"][k]] for k, v in data["medians"].items()]
        return f"**Box plot of `{numbers[0].name()}`** ({scope(ctx, data)}):\n\n" + table(
            ["group", "median", "n"], rows)
    if kind == "line":
        return (f"**Line chart of the {data['agg']} `{numbers[0].name()}` over time** "
                f"({data['points']} points, from {ctx.f(data['low'])} to "
                f"{ctx.f(data['high'])}; {scope(ctx, data)}).")
    split = data["table"]
    return (f"**Bar chart** ({scope(ctx, data)}):\n\n" + table(split["columns"], [
        [_cell(ctx, v) for v in r] for r in split["data"]]))


def _stats(ctx: Ctx) -> tuple[str, ...]:
    return ("from scipy import stats",)


MEASURES: dict[str, Spec] = {
    "aggregate": Spec(aggregate_title, aggregate_code, aggregate_answer, aggregate_check),
    "percent": Spec(lambda ctx: "Share of rows", percent_code, percent_answer, percent_check),
    "exists": Spec(lambda ctx: "Rows that match", exists_code, exists_answer, exists_check),
    "rows": Spec(lambda ctx: "Rows", rows_code, rows_answer),
    "shape": Spec(lambda ctx: "Rows, columns and their types", shape_code, shape_answer),
    "columns": Spec(lambda ctx: "Rows, columns and their types", shape_code, shape_answer),
    "missing": Spec(lambda ctx: "Missing values per column", missing_code, missing_answer),
    "value_counts": Spec(lambda ctx: "Value counts", value_counts_code, value_counts_answer,
                         value_counts_check),
    "describe": Spec(lambda ctx: "Summary statistics", describe_code, describe_answer,
                     describe_check),
    "extreme": Spec(extreme_title, extreme_code, extreme_answer, extreme_check),
    "top": Spec(top_title, top_code, top_answer, top_check),
    "sort": Spec(lambda ctx: "Sorted rows", sort_code, sort_answer),
    "correlation": Spec(lambda ctx: f"{_method(ctx).capitalize()} correlation",
                        correlation_code, correlation_answer, correlation_check, _stats),
    "corr_matrix": Spec(lambda ctx: f"{_method(ctx).capitalize()} correlation matrix",
                        correlation_code, correlation_answer, correlation_check, _stats),
    "normality": Spec(lambda ctx: "Normality test", normality_code, normality_answer,
                      normality_check, _stats),
    "ttest": Spec(lambda ctx: "t-test", ttest_code, ttest_answer, ttest_check, _stats),
    "chi2": Spec(lambda ctx: "Chi-square test of independence", chi2_code, chi2_answer,
                 chi2_check, _stats),
    "anova": Spec(lambda ctx: "One-way ANOVA", anova_code, anova_answer, anova_check, _stats),
    "regression": Spec(lambda ctx: "Linear regression (OLS)", regression_code,
                       regression_answer, regression_check,
                       lambda ctx: ("import statsmodels.api as sm",)),
    "outliers": Spec(lambda ctx: "Outliers", outliers_code, outliers_answer, outliers_check),
    "plot": Spec(lambda ctx: "Plot", plot_code, plot_answer, plot_check,
                 lambda ctx: ("import matplotlib.pyplot as plt",)),
}
