"""A query → the code of one notebook cell.

Every cell has the same shape: the rows (the request's state, then this clause's filters, one
named frame `rows`), then preparation (missing values, outliers), then the measure over
`rows` — per group when the query has groups — and last the `result` dict the answer is
written from, displayed as JSON by the footer. Filters, groups and measures compose because
the measure's code only ever sees `rows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyexec.worker.agent.planner.kernel_code import footer
from pyexec.worker.agent.planner.measures import MEASURES, Ctx
from pyexec.worker.agent.planner.parser import Refusal
from pyexec.worker.agent.planner.query import AggRef, Cond, Expr, Prep, Query, q

RESULT_KEY = "planner"
_TESTS = {"correlation", "corr_matrix", "normality", "ttest", "chi2", "anova"}


@dataclass
class State:
    """What earlier clauses of the request set for one table: the frame later cells read."""

    frame: str  # the table's variable, or the frame a state cell built
    said: list[str] = field(default_factory=list)  # conditions and preparation, in words


def mask_code(cond: Cond, ctx: Ctx, frame: str, lines: list[str]) -> str:
    """A boolean Series expression for one condition over `frame`."""
    table = ctx.table
    expr = cond.expr
    if cond.op == "isna":
        return f"{expr.code(table, frame)}.isna()"
    if cond.op == "notna":
        return f"{expr.code(table, frame)}.notna()"
    value = cond.value
    values = ctx.values_code(expr, frame) if cond.kind == "number" else ""
    if isinstance(value, AggRef):
        name = ctx.fresh(f"{value.agg}_{_ident(value.expr.name())}")
        source = ctx.values_code(value.expr, ctx.base)
        how = f"quantile({value.q})" if value.agg == "quantile" else f"{value.agg}()"
        lines.append(f"{name} = {source}.{how}  # over all {ctx.base_rows_word} rows")
        ctx.thresholds.append((name, value.said()))
        return f"{values} {cond.op} {name}"
    if cond.kind == "text":
        text = f"{expr.code(table, frame)}.astype(str).str.strip().str.casefold()"
        if cond.op == "contains":
            return (
                f"{expr.code(table, frame)}.astype(str).str.contains({q(str(value))}, "
                "case=False, regex=False)"
            )
        if cond.op in ("in", "not in"):
            items = ", ".join(q(str(v).strip().casefold()) for v in value)
            check = f"{text}.isin([{items}])"
            return check if cond.op == "in" else f"~{check}"
        return f"{text} {cond.op} {q(str(value).strip().casefold())}"
    if cond.kind == "date":
        dates = expr.code(table, frame)
        if expr.column and not table.parsed_as_dates(expr.column):
            dates = f'pd.to_datetime({dates}, errors="coerce")'
        return f"{dates} {cond.op} pd.Timestamp({q(str(value))})"
    if cond.kind == "year":
        dates = expr.code(table, frame)
        if expr.column and not table.parsed_as_dates(expr.column):
            dates = f'pd.to_datetime({dates}, errors="coerce")'
        return f"{dates}.dt.year {cond.op} {_num(value)}"
    if cond.kind == "bool":
        return f"{expr.code(table, frame)} {cond.op} {value!r}"
    if cond.op in ("in", "not in"):
        items = ", ".join(_num(v) for v in value)
        check = f"{values}.isin([{items}])"
        return check if cond.op == "in" else f"~{check}"
    return f"{values} {cond.op} {_num(value)}"


def _num(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number == int(number) and abs(number) < 1e15 else repr(number)


def _ident(text: str) -> str:
    import re

    return re.sub(r"\W+", "_", text.lower()).strip("_")[:30] or "value"


def prep_lines(prep: Prep, ctx: Ctx, lines: list[str]) -> None:
    columns = list(prep.columns) or [c for t in ctx.query.targets for c in t.columns()]
    if prep.kind == "dropna":
        if prep.columns:
            lines.append(f"rows = rows.dropna(subset=[{', '.join(q(c) for c in columns)}])")
        else:
            lines.append("rows = rows.dropna()  # rows with a missing value in any column")
        return
    if prep.kind == "drop_duplicates":
        lines.append("rows = rows.drop_duplicates()")
        return
    if prep.kind == "fillna":
        if not columns:
            raise Refusal("which column's missing values to fill")
        lines.append("rows = rows.copy()  # the loaded table itself stays as it was read")
        for column in columns:
            ctx.require_numbers(Expr.of(column), "fill missing values with a statistic") if (
                prep.how in ("mean", "median")
            ) else None
            ref = f"rows[{q(column)}]"
            if prep.how == "mean":
                value = f"{ref}.mean()"
            elif prep.how == "median":
                value = f"{ref}.median()"
            elif prep.how == "mode":
                value = f"{ref}.mode().iloc[0]"
            else:
                value = _num(prep.value)
            lines.append(f"rows[{q(column)}] = {ref}.fillna({value})")
        return
    if not columns:
        raise Refusal("which column's outliers to remove")
    for column in columns:
        ctx.require_numbers(Expr.of(column), "find outliers")
        values = ctx.values_code(Expr.of(column), "rows")
        if prep.how == "iqr":
            k = _num(prep.value if prep.value is not None else 1.5)
            lines += [
                f"q1, q3 = {values}.quantile(0.25), {values}.quantile(0.75)",
                f"inside = {values}.between(q1 - {k} * (q3 - q1), q3 + {k} * (q3 - q1))",
            ]
        else:
            k = _num(prep.value if prep.value is not None else 3)
            lines += [
                f"z = ({values} - {values}.mean()) / {values}.std(ddof=0)",
                f"inside = z.abs() <= {k}",
            ]
        lines.append(
            f"rows = rows[inside | {values}.isna()]  # outliers of {column} removed"
        )


def compile_query(
    query: Query, state: State, step: int
) -> tuple[str, str, list[tuple[str, str]]]:
    """(the cell's code, the measure's kind, the thresholds it computes) for `query`, reading
    the frame in `state`."""
    measure = query.measure
    assert measure is not None
    kind = measure.kind
    spec = MEASURES.get(kind)
    if spec is None:
        raise Refusal(f"“{kind}”")
    ctx = Ctx(query=query, table=query.table, base=state.frame)
    lines: list[str] = []
    title = spec.title(ctx)
    lines.append(f"# {title} ({query.table.name})")
    lines += ["import json", ""]
    imports = sorted(
        {"import numpy as np", "import pandas as pd", *spec.imports(ctx)}, key=_import_order
    )
    lines += [i for i in imports if not i.startswith("from")]
    lines += [i for i in imports if i.startswith("from")]
    lines += ["from IPython.display import display", ""]
    body: list[str] = []
    rows_lines(query, ctx, body)
    spec.check(ctx)
    measure_lines, results = spec.code(ctx)
    lines += body
    lines += measure_lines
    entries = [
        (RESULT_KEY, q(kind)),
        ("step", str(step)),
        ("file", q(query.table.name)),
        ("rows_in_file", f"len({query.table.variable})"),
        ("rows_used", "len(rows)"),
    ]
    if state.frame != query.table.variable:
        entries.append(("rows_before", f"len({state.frame})"))
    for name, _ in ctx.thresholds:
        entries.append((name, name))
    entries += _said(query)
    if kind in _TESTS:
        entries.append(("alpha", repr(measure.alpha)))
    if measure.threshold is not None:
        entries.append(("threshold", repr(measure.threshold)))
    lines.append("")
    lines.append("result = {")
    lines += [f"    {q(key)}: {value}," for key, value in [*entries, *results]]
    lines.append("}")
    lines.append(footer())
    return "\n".join(lines) + "\n", kind, ctx.thresholds


def rows_lines(query: Query, ctx: Ctx, lines: list[str]) -> None:
    """`rows`: the state's frame, this clause's new columns and conditions, then preparation."""
    base = ctx.base
    if query.new_columns:
        lines.append(f"rows = {base}.copy()")
        for name, expr in query.new_columns:
            for column in expr.columns():
                ctx.require_numbers(Expr.of(column), f"compute `{name}`") if expr.op in (
                    "sub", "div", "add", "mul", "log", "sqrt", "abs"
                ) else None
            lines.append(f"rows[{q(name)}] = {ctx.values_code(expr, 'rows')}")
        base = "rows"
    if query.filters:
        masks = [mask_code(c, ctx, base, lines) for c in query.filters]
        said = " and ".join(c.describe() for c in query.filters).replace("`", "")
        lines.append(f"# Only the rows where {said}.")
        joined = masks[0] if len(masks) == 1 else " & ".join(f"({m})" for m in masks)
        lines.append(f"rows = {base}[{joined}]")
    elif base != "rows":
        lines.append(f"rows = {base}")
    for prep in query.prep:
        prep_lines(prep, ctx, lines)
    if lines:
        lines.append("")


def state_cell(
    query: Query, state: State, frame: str, step: int
) -> tuple[str, list[tuple[str, str]]]:
    """A clause that only sets conditions, preparation or new columns: the frame it builds is
    what every later clause about the same table reads."""
    ctx = Ctx(query=query, table=query.table, base=state.frame)
    lines = [f"# The rows the next steps use ({query.table.name})", "import json", "",
             "import numpy as np", "import pandas as pd", "from IPython.display import display",
             ""]
    body: list[str] = []
    rows_lines(query, ctx, body)
    lines += body
    lines.append(f"{frame} = rows")
    lines.append(f'print(f"{{len({frame})}} of {{len({state.frame})}} rows kept")')
    lines.append(f"display({frame}.head(5))")
    entries = [
        (RESULT_KEY, q("state")),
        ("step", str(step)),
        ("file", q(query.table.name)),
        ("rows_in_file", f"len({query.table.variable})"),
        ("rows_before", f"len({state.frame})"),
        ("rows_used", f"len({frame})"),
    ]
    for name, _ in ctx.thresholds:
        entries.append((name, name))
    entries += _said(query)
    lines.append("")
    lines.append("result = {")
    lines += [f"    {q(key)}: {value}," for key, value in entries]
    lines.append("}")
    lines.append(footer())
    return "\n".join(lines) + "\n", ctx.thresholds


def _said(query: Query) -> list[tuple[str, str]]:
    """The conditions and preparation in words, displayed with the numbers they produced."""
    entries = []
    if query.filters:
        said = " and ".join(c.describe() for c in query.filters).replace("`", "")
        entries.append(("where", q(said)))
    if query.prep:
        said = "; ".join(p.describe() for p in query.prep).replace("`", "")
        entries.append(("prepared", q(said)))
    return entries


def _import_order(line: str) -> tuple[int, str]:
    return (1 if line.startswith("from ") else 0, line)
