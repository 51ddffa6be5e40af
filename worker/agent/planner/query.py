"""The query value: one per clause, with a slot for every part of a request that changes the
numbers. The parser fills it; the compiler turns it into pandas/scipy code; nothing else
decides what is computed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pyexec.worker.agent.planner.tables import Table

DerivedOp = Literal[
    "sub", "div", "add", "mul", "log", "year", "month", "day", "weekday", "hour", "abs", "sqrt"
]
DATE_PARTS = ("year", "month", "day", "weekday", "hour")


def q(text: str) -> str:
    """A double-quoted Python string literal."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class Expr:
    """A column, or an expression over columns ("price - cost", "log of income")."""

    column: str | None = None
    op: DerivedOp | None = None
    args: tuple[Expr, ...] = ()

    @classmethod
    def of(cls, column: str) -> Expr:
        return cls(column=column)

    @property
    def is_column(self) -> bool:
        return self.column is not None

    def columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        out: list[str] = []
        for arg in self.args:
            out += [c for c in arg.columns() if c not in out]
        return out

    def name(self) -> str:
        if self.column is not None:
            return self.column
        a = [x.name() for x in self.args]
        symbol = {"sub": "-", "div": "/", "add": "+", "mul": "*"}
        if self.op in symbol:
            return f"{a[0]} {symbol[self.op]} {a[1]}"
        return f"{self.op}({a[0]})"

    def code(self, table: Table, frame: str) -> str:
        """A pandas expression over `frame` (numbers for arithmetic, parsed dates for parts)."""
        if self.column is not None:
            return f"{frame}[{q(self.column)}]"
        a = [x.code(table, frame) for x in self.args]
        if self.op == "sub":
            return f"({a[0]} - {a[1]})"
        if self.op == "add":
            return f"({a[0]} + {a[1]})"
        if self.op == "mul":
            return f"({a[0]} * {a[1]})"
        if self.op == "div":
            return f"({a[0]} / {a[1]})"
        if self.op == "log":
            return f"np.log({a[0]})"
        if self.op == "sqrt":
            return f"np.sqrt({a[0]})"
        if self.op == "abs":
            return f"{a[0]}.abs()"
        inner = self.args[0]
        dates = a[0]
        if inner.column is not None and not table.parsed_as_dates(inner.column):
            dates = f'pd.to_datetime({a[0]}, errors="coerce")'
        part = "dayofweek" if self.op == "weekday" else self.op
        return f"{dates}.dt.{part}"

    def numeric(self, table: Table) -> bool:
        if self.column is not None:
            return table.is_numeric(self.column)
        return True


@dataclass(frozen=True)
class AggRef:
    """A number computed from the data that a filter compares with: "above the average fee"."""

    agg: str  # mean, median, min, max, quantile
    expr: Expr
    q: float | None = None

    def said(self) -> str:
        what = {"mean": "the mean", "median": "the median", "min": "the minimum"}.get(
            self.agg, f"the {self.agg}"
        )
        return f"{what} of `{self.expr.name()}`"


CondOp = Literal[">", ">=", "<", "<=", "==", "!=", "in", "not in", "contains", "isna", "notna"]


@dataclass(frozen=True)
class Cond:
    """One row condition, bound to a column or expression."""

    expr: Expr
    op: CondOp
    value: Any = None  # float, str, tuple of values, AggRef, or None for isna/notna
    kind: Literal["number", "text", "date", "year", "bool", "none"] = "number"

    def describe(self) -> str:
        name = f"`{self.expr.name()}`"
        if self.op == "isna":
            return f"{name} is missing"
        if self.op == "notna":
            return f"{name} is not missing"
        said = {"==": "is", "!=": "is not", ">=": "≥", "<=": "≤", "in": "is one of"}.get(
            self.op, self.op
        )
        if self.op == "not in":
            said = "is none of"
        if self.kind == "year":
            name = f"the year of {name}"
        value = self.value
        if isinstance(value, AggRef):
            text = value.said()
        elif isinstance(value, tuple):
            text = ", ".join(_literal(v) for v in value)
        else:
            text = _literal(value)
        return f"{name} {said} {text}"


def _literal(value: Any) -> str:
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


@dataclass(frozen=True)
class Group:
    column: str
    period: str | None = None  # Y, Q, M, W, D, or a date part: weekday, hour

    def name(self) -> str:
        return {
            "Y": "year",
            "Q": "quarter",
            "M": "month",
            "W": "week",
            "D": "day",
            "weekday": "weekday",
            "hour": "hour",
        }.get(self.period or "", self.column)

    def said(self) -> str:
        return f"{self.name()} of `{self.column}`" if self.period else f"`{self.column}`"


@dataclass(frozen=True)
class Prep:
    """A step that changes which values enter the computation."""

    kind: Literal["dropna", "fillna", "drop_outliers", "drop_duplicates"]
    columns: tuple[str, ...] = ()
    how: str | None = None  # fillna: mean, median, mode, zero, or a value; outliers: iqr, zscore
    value: Any = None  # fillna's constant; outliers' threshold

    def describe(self) -> str:
        of = ", ".join(f"`{c}`" for c in self.columns) or "any column"
        if self.kind == "dropna":
            return f"rows with a missing value in {of} dropped"
        if self.kind == "drop_duplicates":
            return "duplicate rows dropped"
        if self.kind == "fillna":
            with_what = f"its {self.how}" if self.how in ("mean", "median", "mode") else (
                f"{_literal(self.value)}"
            )
            return f"missing values of {of} filled with {with_what}"
        rule = (
            f"more than {_literal(self.value)} x IQR beyond the quartiles"
            if self.how == "iqr"
            else f"|z-score| > {_literal(self.value)}"
        )
        return f"outliers of {of} removed ({rule})"


MeasureKind = Literal[
    "aggregate",
    "count",
    "percent",
    "rows",
    "shape",
    "columns",
    "missing",
    "value_counts",
    "extreme",
    "top",
    "sort",
    "correlation",
    "corr_matrix",
    "corr_target",
    "normality",
    "ttest",
    "chi2",
    "anova",
    "regression",
    "outliers",
    "exists",
    "plot",
    "describe",
]


@dataclass(frozen=True)
class Measure:
    kind: MeasureKind
    aggs: tuple[str, ...] = ()  # aggregate: mean, median, sum, count, min, max, std, var, ...
    method: str | None = None  # correlation: pearson/spearman/kendall; normality: shapiro/...
    alpha: float = 0.05
    n: int | None = None  # top/rows: how many
    descending: bool = True
    threshold: float | None = None  # outliers
    plot: str | None = None  # hist, bar, line, scatter, box
    entity: str | None = None  # extreme: the column whose value is asked ("which country")
    mode: str | None = None  # rows: head/tail/sample; ttest: welch/student/paired
    values: tuple[Any, ...] = ()  # ttest: the two groups compared


@dataclass(frozen=True)
class Query:
    table: Table
    measure: Measure | None  # None: the clause only sets state for the clauses after it
    targets: tuple[Expr, ...] = ()
    filters: tuple[Cond, ...] = ()
    groups: tuple[Group, ...] = ()
    prep: tuple[Prep, ...] = ()
    new_columns: tuple[tuple[str, Expr], ...] = ()  # "create a column ratio = a / b"
    notes: tuple[str, ...] = ()  # presentation parts not done, said at the top of the answer
    loose: tuple[tuple[str, str], ...] = ()  # (words said, column) matched loosely
    extras: dict[str, Any] = field(default_factory=dict, compare=False)
