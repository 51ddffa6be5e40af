"""Group-by aggregates: "total revenue by region", "average units per product and month"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.agent.planner.code import as_dates, as_numbers, col, listing, q, ticked
from worker.agent.planner.markdown import fmt, plural, split_table
from worker.agent.planner.recipes.base import Recipe
from worker.agent.planner.recipes.stats import not_numbers_note
from worker.agent.planner.tables import Table

PERIODS = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
AGG_WORDS = {
    "sum": "total",
    "mean": "average",
    "median": "median",
    "count": "number of values of",
    "min": "smallest",
    "max": "largest",
    "nunique": "number of distinct",
    "std": "standard deviation of",
}


@dataclass(frozen=True)
class Key:
    """A group key: a column, or the calendar period of a date column."""

    column: str
    period: str | None = None  # a key of PERIODS

    @property
    def name(self) -> str:
        return PERIODS[self.period] if self.period else self.column

    def said(self) -> str:
        return f"{PERIODS[self.period]} of `{self.column}`" if self.period else f"`{self.column}`"


def key_lines(
    table: Table, frame: str, keys: tuple[Key, ...]
) -> tuple[list[str], list[str], list[str]]:
    """Code defining period keys; the keys for `frame.groupby`, and as Series expressions."""
    lines: list[str] = []
    names: list[str] = []
    series: list[str] = []
    for key in keys:
        if key.period is None:
            names.append(q(key.column))
            series.append(col(frame, key.column))
            continue
        lines.append(f"# Calendar {key.name}s of `{key.column}`, written like 2024-03.")
        lines.append(
            f"{key.name} = {as_dates(table, frame, key.column)}.dt.to_period({q(key.period)})"
            f".astype(str).rename({q(key.name)})"
        )
        names.append(key.name)
        series.append(key.name)
    return lines, names, series


@dataclass(frozen=True)
class GroupBy(Recipe):
    keys: tuple[Key, ...] = ()
    values: tuple[str, ...] = ()  # empty: count rows
    aggs: tuple[str, ...] = ("sum",)
    kind = "group_by"

    def _measure(self) -> str:
        if not self.values:
            return "number of rows"
        aggs = listing([AGG_WORDS[a] for a in self.aggs])
        return f"{aggs} {ticked(self.values)}"

    def _by(self) -> str:
        return listing([k.said() for k in self.keys])

    def title(self) -> str:
        return f"{self._measure().capitalize()} by {self._by()}".replace("`", "")

    def intent(self) -> str:
        return f"compute the {self._measure()} for each {self._by()} in {self.scope()}"

    @property
    def _ranked(self) -> bool:
        """One number per group, groups not in time order: show the largest first."""
        single = len(self.values) <= 1 and len(self.aggs) == 1
        return single and all(k.period is None for k in self.keys) and len(self.keys) == 1

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        lines, names, series = key_lines(self.table, frame, self.keys)
        by = names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"
        if not self.values:
            lines.append(f'summary = {frame}.groupby({by}).size().rename("rows")')
        else:
            if not self._coerces:
                picked = (
                    f"[{q(self.values[0])}]"
                    if len(self.values) == 1
                    else "[[" + ", ".join(q(v) for v in self.values) + "]]"
                )
                grouped = f"{frame}.groupby({by}){picked}"
            else:
                lines.append(
                    "# Text columns are read as numbers; values that are not numbers are left out."
                )
                if len(self.values) == 1:
                    lines.append(f"values = {as_numbers(self.table, frame, self.values[0])}")
                else:
                    lines.append("values = pd.DataFrame(")
                    lines.append("    {")
                    for v in self.values:
                        lines.append(f"        {q(v)}: {as_numbers(self.table, frame, v)},")
                    lines.append("    }")
                    lines.append(")")
                by_series = series[0] if len(series) == 1 else "[" + ", ".join(series) + "]"
                grouped = f"values.groupby({by_series})"
            if len(self.aggs) == 1:
                lines.append(f"summary = {grouped}.{self.aggs[0]}()")
            else:
                aggs = ", ".join(q(a) for a in self.aggs)
                lines.append(f"summary = {grouped}.agg([{aggs}])")
                if len(self.values) > 1:
                    lines.append("# One header per column: revenue_sum, revenue_mean, …")
                    lines.append('summary.columns = ["_".join(c) for c in summary.columns]')
        if self._ranked:
            lines.append('summary = summary.sort_values(ascending=False, kind="stable")')
        lines.append("display(summary)" if not self._series else "display(summary.to_frame())")
        results = [
            ("groups", "len(summary)"),
            ("table", 'summary.reset_index().to_dict(orient="split")'),
        ]
        if self._coerces:
            unread = ", ".join(
                f"{q(v)}: int({col(frame, v)}.notna().sum() - "
                + (
                    "values.notna().sum())"
                    if len(self.values) == 1
                    else f"values[{q(v)}].notna().sum())"
                )
                for v in self.values
                if not self.table.is_numeric(v)
            )
            results.append(("not_numbers", "{" + unread + "}"))
        return lines, results

    @property
    def _coerces(self) -> bool:
        """Some value column is text but the statistic needs numbers."""
        numeric_aggs = {"sum", "mean", "median", "min", "max"}
        return bool(numeric_aggs & set(self.aggs)) and not all(
            self.table.is_numeric(v) for v in self.values
        )

    @property
    def _series(self) -> bool:
        return not self.values or (len(self.values) == 1 and len(self.aggs) == 1)

    def answer(self, data: dict[str, Any]) -> str:
        summary = data["table"]
        head = (
            f"**{self._measure().capitalize()} by {self._by()}** in {self.scope()} "
            f"({plural(data['groups'], 'group')}):"
        )
        if self._series and len(self.keys) == 1:
            summary["columns"][-1] = (
                "rows" if not self.values else f"{self.values[0]} ({self.aggs[0]})"
            )
        text = head + "\n\n" + split_table(summary)
        if self._series and len(self.keys) == 1 and summary["data"]:
            rows = [r for r in summary["data"] if r[-1] is not None]
            if len({r[-1] for r in rows}) > 1:
                high = max(rows, key=lambda r: r[-1])
                low = min(rows, key=lambda r: r[-1])
                text += (
                    f"\n\nHighest: **{fmt(high[0])}** ({fmt(high[-1])}); "
                    f"lowest: **{fmt(low[0])}** ({fmt(low[-1])})."
                )
        return text + not_numbers_note(data)
