"""Plots: histogram, bar, line and scatter. Each answer says what was drawn, in numbers."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from worker.agent.planner.code import as_dates, as_numbers, col, q, ticked
from worker.agent.planner.markdown import fmt, plural, table
from worker.agent.planner.recipes.base import Recipe
from worker.agent.planner.recipes.groups import AGG_WORDS, PERIODS, Key, key_lines
from worker.agent.planner.recipes.stats import numbers_frame
from worker.agent.planner.tables import Table

COLOR = "#4c72b0"
_BARS = f'color="{COLOR}", edgecolor="white"'
MAX_BARS = 30

# Amounts add up over time ("revenue per month" is a sum); levels do not (a temperature per
# day is an average). Used only when the request says neither "total" nor "average".
_ADDITIVE = re.compile(
    r"revenue|sales|amount|units|quantity|qty|count|total|orders|profit|cost|spend|volume|"
    r"visits|clicks|sessions|items|sold|income|payment|transactions|bookings|downloads",
    re.I,
)


def additive(column: str) -> bool:
    return _ADDITIVE.search(column) is not None


@dataclass(frozen=True)
class Histogram(Recipe):
    columns: tuple[str, ...] = ()
    bins: int = 20
    kind = "histogram"
    plots = True

    def title(self) -> str:
        return f"Histogram of {', '.join(self.columns)}"

    def intent(self) -> str:
        return f"draw a histogram of {ticked(self.columns)} from {self.scope()} ({self.bins} bins)"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        if len(self.columns) == 1:
            (column,) = self.columns
            lines = [
                f"values = {as_numbers(self.table, frame, column)}.dropna()",
                "fig, ax = plt.subplots(figsize=(8, 4.5))",
                f"counts, edges, _ = ax.hist(values, bins={self.bins}, {_BARS})",
                f"ax.set(title={q(f'Distribution of {column}')}, xlabel={q(column)}, "
                'ylabel="rows")',
                "plt.show()",
                "peak = counts.argmax()  # the tallest bar",
            ]
            return lines, [
                ("values", "len(values)"),
                ("bins", "len(counts)"),
                ("stats", "{c: values.agg(c) for c in ['min', 'max', 'mean', 'median']}"),
                ("peak", "[edges[peak], edges[peak + 1], int(counts[peak])]"),
            ]
        per_row = min(3, len(self.columns))
        rows = math.ceil(len(self.columns) / per_row)
        lines = numbers_frame(self.table, frame, self.columns)
        lines += [
            f"fig, axes = plt.subplots({rows}, {per_row}, "
            f"figsize=({4 * per_row}, {3.2 * rows:g}), squeeze=False)",
            "for ax, column in zip(axes.flat, numbers.columns):",
            f"    ax.hist(numbers[column].dropna(), bins={self.bins}, {_BARS})",
            "    ax.set_title(column)",
            "for ax in axes.flat[len(numbers.columns) :]:",
            "    ax.set_visible(False)  # the grid has more cells than columns",
            "fig.tight_layout()",
            "plt.show()",
        ]
        return lines, [
            (
                "stats",
                'numbers.agg(["count", "min", "max", "mean", "median"]).T.to_dict(orient="split")',
            ),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        if len(self.columns) == 1:
            stats, peak = data["stats"], data["peak"]
            return (
                f"**Histogram of `{self.columns[0]}`** from {self.scope()}: "
                f"{plural(data['values'], 'value')} in {data['bins']} bins, from "
                f"{fmt(stats['min'])} to {fmt(stats['max'])} (mean {fmt(stats['mean'])}, "
                f"median {fmt(stats['median'])}). The tallest bar, {fmt(peak[0])} to "
                f"{fmt(peak[1])}, holds {plural(peak[2], 'value')}."
            )
        stats = data["stats"]
        rows = [[c, *values] for c, values in zip(stats["index"], stats["data"], strict=False)]
        head = (
            f"**Histograms of {plural(len(self.columns), 'column')}** from {self.scope()} "
            f"({self.bins} bins each), one panel per column:"
        )
        return head + "\n\n" + table(["column", *stats["columns"]], rows)


@dataclass(frozen=True)
class Bar(Recipe):
    key: Key | None = None
    value: str | None = None  # None: count rows per category
    agg: str = "sum"
    kind = "bar"
    plots = True

    def _measure(self) -> str:
        return "number of rows" if self.value is None else f"{AGG_WORDS[self.agg]} `{self.value}`"

    def title(self) -> str:
        assert self.key is not None
        return f"Bar chart: {self._measure()} by {self.key.name}".replace("`", "")

    def intent(self) -> str:
        assert self.key is not None
        return (
            f"draw a bar chart of the {self._measure()} for each {self.key.said()} "
            f"in {self.scope()}"
        )

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        assert self.key is not None
        key = self.key
        lines, names, series = key_lines(self.table, frame, (key,))
        if self.value is None:
            if key.period is None:
                lines.append(f"totals = {col(frame, key.column)}.value_counts()")
            else:
                lines.append(f"totals = {frame}.groupby({names[0]}).size()")
            label = "rows"
        else:
            if self.table.is_numeric(self.value):
                grouped = f"{frame}.groupby({names[0]})[{q(self.value)}]"
            else:
                grouped = f"{as_numbers(self.table, frame, self.value)}.groupby({series[0]})"
            lines.append(f"totals = {grouped}.{self.agg}()")
            if key.period is None:
                lines.append('totals = totals.sort_values(ascending=False, kind="stable")')
            label = f"{self.value} ({self.agg})"
        if key.period is None:
            lines.append(f"shown = totals.head({MAX_BARS})  # more bars than this cannot be read")
        else:
            lines.append("shown = totals")
        lines += [
            "fig, ax = plt.subplots(figsize=(8, 4.5))",
            f'shown.plot.bar(ax=ax, color="{COLOR}")',
            f"ax.set(title={q(self.title().removeprefix('Bar chart: ').capitalize())}, "
            f"xlabel={q(key.name)}, ylabel={q(label)})",
            "fig.tight_layout()",
            "plt.show()",
        ]
        return lines, [
            ("bars", "len(shown)"),
            ("groups", "len(totals)"),
            ("labels", "shown.index.tolist()"),
            ("values", "shown.tolist()"),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        assert self.key is not None
        label = "rows" if self.value is None else f"{self.value} ({self.agg})"
        head = (
            f"**Bar chart of the {self._measure()} by {self.key.said()}** from {self.scope()}: "
            f"{plural(data['bars'], 'bar')}"
        )
        if data["groups"] > data["bars"]:
            head += f" (the largest {data['bars']} of {data['groups']})"
        rows = list(zip(data["labels"], data["values"], strict=False))
        return head + ":\n\n" + table([self.key.name, label], rows)


@dataclass(frozen=True)
class Line(Recipe):
    x: str | None = None  # None: the row order
    ys: tuple[str, ...] = ()
    agg: str | None = None  # how rows sharing an x are combined; None: by the column's nature
    period: str | None = None
    kind = "line"
    plots = True

    def _agg(self, column: str) -> str:
        return self.agg or ("sum" if additive(column) else "mean")

    @property
    def _aggs(self) -> dict[str, str]:
        return {y: self._agg(y) for y in self.ys}

    def _x_said(self) -> str:
        if self.x is None:
            return "row order"
        if self.period:
            return f"{PERIODS[self.period]} of `{self.x}`"
        return f"`{self.x}`"

    def title(self) -> str:
        return f"Line chart of {', '.join(self.ys)} over {self._x_said()}".replace("`", "")

    def intent(self) -> str:
        combine = ""
        if self.x is not None:
            words = {a: AGG_WORDS[a] for a in set(self._aggs.values())}
            combine = (
                f" (rows that share a {self._x_said().replace('`', '')} are combined: "
                + ", ".join(f"{words[a]} {ticked([y])}" for y, a in self._aggs.items())
                + ")"
            )
        over = f"over {self._x_said()} from {self.scope()}"
        return f"draw a line chart of {ticked(self.ys)} {over}{combine}"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        lines = numbers_frame(self.table, frame, self.ys)
        if self.x is None:
            lines.append("series = numbers")
            xlabel = "row"
        else:
            kind = self.table.kind(self.x)
            if kind == "date":
                period = self.period
                if period:
                    x_expr = PERIODS[period]
                    lines.append(f"# Calendar {x_expr}s of `{self.x}`, each drawn at its start.")
                    lines.append(
                        f"{x_expr} = {as_dates(self.table, frame, self.x)}"
                        f".dt.to_period({q(period)}).dt.to_timestamp().rename({q(x_expr)})"
                    )
                else:
                    lines.append(f"x = {as_dates(self.table, frame, self.x)}")
                    x_expr = "x"
            else:
                lines.append(
                    f"x = {as_numbers(self.table, frame, self.x)}"
                    if kind == "number"
                    else f"x = {col(frame, self.x)}"
                )
                x_expr = "x"
            aggs = self._aggs
            if len(set(aggs.values())) == 1:
                agg = next(iter(aggs.values()))
                lines.append(
                    f"# One point per {x_expr if x_expr != 'x' else self.x}: "
                    f"the {agg} of the rows that share it."
                )
                lines.append(f"series = numbers.groupby({x_expr}).{agg}()")
            else:
                spec = ", ".join(f"{q(y)}: {q(a)}" for y, a in aggs.items())
                lines.append(f"series = numbers.groupby({x_expr}).agg({{{spec}}})")
            xlabel = self.x if not self.period else f"{self.x} ({PERIODS[self.period]})"
        marker = ', marker="o"' if self.period else ""
        lines += [
            "fig, ax = plt.subplots(figsize=(9, 4.5))",
            f"series.plot(ax=ax{marker})",
            f"ax.set(title={q(self.title().removeprefix('Line chart of ').capitalize())}, "
            f"xlabel={q(xlabel)})",
            "plt.show()",
        ]
        return lines, [
            ("points", "len(series)"),
            ("start", "series.index.min()"),
            ("end", "series.index.max()"),
            ("summary", 'series.agg(["min", "idxmin", "max", "idxmax"]).to_dict()'),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        over = "row order" if self.x is None else self._x_said()
        head = (
            f"**Line chart of {ticked(self.ys)} over {over}** from {self.scope()}: "
            f"{plural(data['points'], 'point')} from {fmt(data['start'])} to {fmt(data['end'])}."
        )
        rows = []
        for y in self.ys:
            s = data["summary"].get(y, {})
            label = y if self.x is None else f"{y} ({self._agg(y)})"
            rows.append([label, s.get("min"), s.get("idxmin"), s.get("max"), s.get("idxmax")])
        return (
            head + "\n\n" + table(["series", "lowest", "lowest at", "highest", "highest at"], rows)
        )


@dataclass(frozen=True)
class Scatter(Recipe):
    x: str = ""
    y: str = ""
    hue: str | None = None
    kind = "scatter"
    plots = True

    def title(self) -> str:
        by = f", coloured by {self.hue}" if self.hue else ""
        return f"Scatter plot of {self.y} against {self.x}{by}"

    def intent(self) -> str:
        by = f", coloured by `{self.hue}`" if self.hue else ""
        return (
            f"draw a scatter plot of `{self.y}` (vertical) against `{self.x}` (horizontal) "
            f"from {self.scope()}{by}"
        )

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        keep = (self.hue,) if self.hue else ()
        lines = numbers_frame(self.table, frame, (self.x, self.y), name="points", keep=keep)
        lines += [
            "points = points.dropna()  # a point needs both values",
            "fig, ax = plt.subplots(figsize=(7, 5))",
        ]
        if self.hue:
            lines += [
                f"for name, group in points.groupby({q(self.hue)}):",
                f"    ax.scatter(group[{q(self.x)}], group[{q(self.y)}], "
                "label=str(name), alpha=0.7)",
                f"ax.legend(title={q(self.hue)})",
            ]
        else:
            lines.append(
                f'ax.scatter(points[{q(self.x)}], points[{q(self.y)}], color="{COLOR}", alpha=0.7)'
            )
        lines += [
            f"ax.set(title={q(self.title().removeprefix('Scatter plot of ').capitalize())}, "
            f"xlabel={q(self.x)}, ylabel={q(self.y)})",
            "plt.show()",
        ]
        return lines, [
            ("points", "len(points)"),
            ("r", f"points[{q(self.x)}].corr(points[{q(self.y)}])"),
            ("x_range", f"[points[{q(self.x)}].min(), points[{q(self.x)}].max()]"),
            ("y_range", f"[points[{q(self.y)}].min(), points[{q(self.y)}].max()]"),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        from worker.agent.planner.recipes.stats import strength

        x_lo, x_hi = data["x_range"]
        y_lo, y_hi = data["y_range"]
        text = (
            f"**Scatter plot of `{self.y}` against `{self.x}`** from {self.scope()}: "
            f"{plural(data['points'], 'point')}, `{self.x}` from {fmt(x_lo)} to {fmt(x_hi)}, "
            f"`{self.y}` from {fmt(y_lo)} to {fmt(y_hi)}"
        )
        if self.hue:
            text += f", coloured by `{self.hue}`"
        if data["r"] is not None:
            text += f". Pearson r = {fmt(data['r'])} ({strength(data['r'])})."
        else:
            text += "."
        return text


def date_column_for(table: Table, mentioned: list[str]) -> str | None:
    for column in mentioned:
        if table.kind(column) == "date":
            return column
    return table.date_columns[0] if table.date_columns else None
