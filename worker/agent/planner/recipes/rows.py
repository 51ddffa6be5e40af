"""Recipes that show rows: preview, shape and columns, top/bottom N, sort, filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from worker.agent.planner.code import col, grouped_values, q
from worker.agent.planner.markdown import exact, fmt, plural, split_table, table
from worker.agent.planner.recipes.base import Recipe

SHOWN_ROWS = 10


def _sort_key(recipe: Recipe, column: str) -> str:
    """`key=` for sort_values when the column holds numbers or dates as text."""
    kind = recipe.table.kind(column)
    if kind == "number" and not recipe.table.is_numeric(column):
        return ', key=lambda s: pd.to_numeric(s, errors="coerce")'
    if kind == "date" and not recipe.table.parsed_as_dates(column):
        return ', key=lambda s: pd.to_datetime(s, errors="coerce")'
    return ""


@dataclass(frozen=True)
class Preview(Recipe):
    n: int = 5
    mode: Literal["head", "tail", "sample"] = "head"
    kind = "preview"

    def _what(self) -> str:
        if self.mode == "tail":
            return f"Last {plural(self.n, 'row')}"
        if self.mode == "sample":
            return f"A random sample of {plural(self.n, 'row')}"
        return f"First {plural(self.n, 'row')}"

    def title(self) -> str:
        return self._what()

    def intent(self) -> str:
        return f"show the {self._what().lower()} of {self.scope()}"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        if self.mode == "sample":
            # A fixed seed so that re-running the notebook shows the same rows.
            lines = [f"rows = {frame}.sample(n=min({self.n}, len({frame})), random_state=0)"]
        else:
            lines = [f"rows = {frame}.{self.mode}({self.n})"]
        lines.append("display(rows)")
        return lines, [
            ("n_columns", f"{frame}.shape[1]"),
            ("shown", 'rows.to_dict(orient="split")'),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        rows = data.get("rows_matching", data["rows_in_file"])
        head = (
            f"**{self._what()} of {self.scope()}** "
            f"({plural(rows, 'row')} \N{MULTIPLICATION SIGN} "
            f"{plural(data['n_columns'], 'column')} in all):"
        )
        index = "row" if self.mode != "head" or self.where else None
        return head + "\n\n" + split_table(data["shown"], index, as_is=True)


@dataclass(frozen=True)
class Shape(Recipe):
    kind = "shape"

    def title(self) -> str:
        return "Rows, columns and their types"

    def intent(self) -> str:
        return f"count the rows and columns of {self.scope()} and list the columns with their types"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        lines = [
            f'print(f"{{len({frame})}} rows x {{{frame}.shape[1]}} columns")',
            "overview = pd.DataFrame(",
            "    {",
            f'        "dtype": {frame}.dtypes.astype(str),',
            f'        "non-null": {frame}.notna().sum(),',
            f'        "missing": {frame}.isna().sum(),',
            "    }",
            ")",
            "display(overview)",
        ]
        return lines, [
            ("n_rows", f"len({frame})"),
            ("n_columns", f"{frame}.shape[1]"),
            ("dtypes", 'overview["dtype"].to_dict()'),
            ("non_null", 'overview["non-null"].to_dict()'),
            ("missing", 'overview["missing"].to_dict()'),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        dtypes: dict[str, str] = data["dtypes"]
        rows = [
            [name, dtype, data["non_null"].get(name), data["missing"].get(name)]
            for name, dtype in dtypes.items()
        ]
        head = (
            f"{self.scope()} has **{plural(data['n_rows'], 'row')}** and "
            f"**{plural(data['n_columns'], 'column')}**:"
        )
        return head + "\n\n" + table(["column", "dtype", "non-null", "missing"], rows)


@dataclass(frozen=True)
class TopRows(Recipe):
    column: str = ""
    n: int = 10
    descending: bool = True
    kind = "top_rows"

    @property
    def _which(self) -> str:
        return "Top" if self.descending else "Bottom"

    def title(self) -> str:
        order = "largest first" if self.descending else "smallest first"
        return f"{self._which} {self.n} rows by {self.column}, {order}"

    def intent(self) -> str:
        size = "largest" if self.descending else "smallest"
        return f"take the {plural(self.n, 'row')} of {self.scope()} with the {size} `{self.column}`"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        ascending = not self.descending
        lines = [
            "# A stable sort keeps tied rows in file order; rows without a value go last.",
            f'top = {frame}.sort_values({q(self.column)}, ascending={ascending}, kind="stable"'
            f"{_sort_key(self, self.column)}).head({self.n})",
            "display(top)",
        ]
        return lines, [("column", q(self.column)), ("shown", 'top.to_dict(orient="split")')]

    def answer(self, data: dict[str, Any]) -> str:
        shown = data["shown"]
        rows = data.get("rows_matching", data["rows_in_file"])
        order = "largest" if self.descending else "smallest"
        head = (
            f"**{self._which} {len(shown['data'])} rows of {self.scope()} by `{self.column}`** "
            f"({order} first, of {plural(rows, 'row')}):"
        )
        text = head + "\n\n" + split_table(shown, "row", as_is=True)
        position = shown["columns"].index(self.column) if self.column in shown["columns"] else -1
        if shown["data"] and position >= 0:
            first, last = shown["data"][0], shown["data"][-1]
            text += (
                f"\n\nThe {order} `{self.column}` is {exact(first[position])} "
                f"(row {fmt(shown['index'][0])})"
            )
            if len(shown["data"]) > 1:
                text += f"; number {len(shown['data'])} is {exact(last[position])}"
            text += "."
        return text


@dataclass(frozen=True)
class TopGroups(Recipe):
    group: str = ""
    value: str | None = None  # None: rank the groups by how many rows they have
    agg: str = "sum"
    n: int = 10
    descending: bool = True
    kind = "top_groups"

    def _measure(self) -> str:
        if self.value is None:
            return "number of rows"
        return f"{_AGG_WORDS[self.agg]} `{self.value}`"

    def title(self) -> str:
        which = "Top" if self.descending else "Bottom"
        measure = self._measure().replace("`", "")
        return f"{which} {self.n} of {self.group} by {measure}"

    def intent(self) -> str:
        which = "highest" if self.descending else "lowest"
        return (
            f"rank the `{self.group}` values of {self.scope()} by their {self._measure()} "
            f"and keep the {self.n} {which}"
        )

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        ascending = not self.descending
        if self.value is None:
            lines = [f"totals = {col(frame, self.group)}.value_counts(ascending={ascending})"]
        else:
            lines = [
                f"totals = {grouped_values(self.table, frame, [self.group], self.value)}"
                f'.{self.agg}().sort_values(ascending={ascending}, kind="stable")'
            ]
        lines += [f"top = totals.head({self.n})", "display(top.to_frame())"]
        return lines, [
            ("groups", "len(totals)"),
            ("labels", "top.index.tolist()"),
            ("values", "top.tolist()"),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        which = "Top" if self.descending else "Bottom"
        labels, values = data["labels"], data["values"]
        if len(labels) == 1:
            most = "highest" if self.descending else "lowest"
            return (
                f"The `{self.group}` with the {most} {self._measure()} in {self.scope()} is "
                f"**{fmt(labels[0])}** ({fmt(values[0])}; "
                f"{plural(data['groups'], 'group')} in all)."
            )
        header = "rows" if self.value is None else f"{self.value} ({self.agg})"
        head = (
            f"**{which} {len(labels)} `{self.group}` values of {self.scope()} by "
            f"{self._measure()}** (of {plural(data['groups'], 'group')}):"
        )
        rows = [
            [i + 1, label, value]
            for i, (label, value) in enumerate(zip(labels, values, strict=False))
        ]
        return head + "\n\n" + table(["rank", self.group, header], rows)


@dataclass(frozen=True)
class Sort(Recipe):
    columns: tuple[str, ...] = ()
    ascending: tuple[bool, ...] = ()
    n: int = SHOWN_ROWS
    kind = "sort"

    def _order(self) -> str:
        return ", ".join(
            f"`{c}` {'ascending' if a else 'descending'}"
            for c, a in zip(self.columns, self.ascending, strict=False)
        )

    def title(self) -> str:
        return "Rows sorted by " + self._order().replace("`", "")

    def intent(self) -> str:
        return f"sort {self.scope()} by {self._order()} and show the first {self.n} rows"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        if len(self.columns) == 1:
            by, ascending = q(self.columns[0]), str(self.ascending[0])
            key = _sort_key(self, self.columns[0])
        else:
            by = "[" + ", ".join(q(c) for c in self.columns) + "]"
            ascending = "[" + ", ".join(str(a) for a in self.ascending) + "]"
            key = ""
        lines = [
            f'ordered = {frame}.sort_values({by}, ascending={ascending}, kind="stable"{key})',
            f"display(ordered.head({self.n}))",
        ]
        return lines, [("shown", f'ordered.head({self.n}).to_dict(orient="split")')]

    def answer(self, data: dict[str, Any]) -> str:
        rows = data.get("rows_matching", data["rows_in_file"])
        shown = data["shown"]
        head = (
            f"**{self.scope()} sorted by {self._order()}** — the first "
            f"{len(shown['data'])} of {plural(rows, 'row')}:"
        )
        return head + "\n\n" + split_table(shown, "row", as_is=True)


@dataclass(frozen=True)
class Filter(Recipe):
    n: int = SHOWN_ROWS
    kind = "filter"

    def title(self) -> str:
        return "Rows where " + self.where_text().replace("`", "")

    def intent(self) -> str:
        return f"keep the rows of `{self.source_name}` where {self.where_text()}"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        lines = [
            f'print(f"{{len({frame})}} of {{len({self.table.variable})}} rows match")',
            f"display({frame}.head({self.n}))",
        ]
        return lines, [
            ("percent", f"round(len({frame}) / len({self.table.variable}) * 100, 2)"),
            ("shown", f'{frame}.head({self.n}).to_dict(orient="split")'),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        matching, total = data["rows_matching"], data["rows_in_file"]
        head = (
            f"**{matching} of {total} rows** ({fmt(data['percent'])}%) of `{self.source_name}` "
            f"match {self.where_text()}"
        )
        if not matching:
            return head + "."
        shown = data["shown"]
        first = "" if len(shown["data"]) == matching else f"; the first {len(shown['data'])}"
        return head + f"{first}:\n\n" + split_table(shown, "row", as_is=True)


_AGG_WORDS = {
    "sum": "total",
    "mean": "average",
    "median": "median",
    "count": "count of",
    "min": "smallest",
    "max": "largest",
}
