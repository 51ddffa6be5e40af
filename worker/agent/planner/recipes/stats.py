"""Recipes that compute numbers: statistics, missing values, value counts, correlation, overview."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.agent.planner.code import col, cols, listing, q, ticked
from worker.agent.planner.markdown import fmt, plural, split_table, table
from worker.agent.planner.recipes.base import Recipe
from worker.agent.planner.tables import Table

# Statistic → (column header, pandas expression over the frame `numbers`).
STATISTICS: dict[str, tuple[str, str]] = {
    "count": ("count", "numbers.count()"),
    "mean": ("mean", "numbers.mean()"),
    "median": ("median", "numbers.median()"),
    "std": ("std", "numbers.std()"),
    "var": ("variance", "numbers.var()"),
    "min": ("min", "numbers.min()"),
    "q25": ("25%", "numbers.quantile(0.25)"),
    "q75": ("75%", "numbers.quantile(0.75)"),
    "max": ("max", "numbers.max()"),
    "sum": ("sum", "numbers.sum()"),
    "range": ("range", "numbers.max() - numbers.min()"),
    "iqr": ("IQR", "numbers.quantile(0.75) - numbers.quantile(0.25)"),
}
DESCRIBE = ("count", "mean", "std", "min", "q25", "median", "q75", "max")
_ORDER = (
    "count",
    "sum",
    "mean",
    "median",
    "std",
    "var",
    "min",
    "q25",
    "q75",
    "max",
    "range",
    "iqr",
)
_NAMES = {
    "mean": "mean",
    "median": "median",
    "std": "standard deviation",
    "var": "variance",
    "min": "minimum",
    "max": "maximum",
    "sum": "total",
    "count": "count of values",
    "q25": "first quartile",
    "q75": "third quartile",
    "range": "range",
    "iqr": "interquartile range",
}


def statistic(name: str) -> tuple[str, str]:
    """Header and expression; also percentiles written "p90"."""
    if name in STATISTICS:
        return STATISTICS[name]
    share = int(name[1:])
    return f"{share}%", f"numbers.quantile({share / 100:g})"


def ordered_statistics(names: set[str] | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """In a fixed order; pandas' `describe()` order when all of its statistics are asked for."""
    first = DESCRIBE if set(DESCRIBE) <= set(names) else ()
    known = [*first, *(n for n in _ORDER if n in names and n not in first)]
    percentiles = sorted((n for n in names if n.startswith("p")), key=lambda n: int(n[1:]))
    return (*known, *percentiles)


def numbers_frame(
    table: Table,
    frame: str,
    columns: tuple[str, ...],
    name: str = "numbers",
    keep: tuple[str, ...] = (),
) -> list[str]:
    """Code that binds `name`: the chosen columns (or every numeric one) as numbers, plus the
    columns `keep` as they are."""
    if not columns:
        return [f'{name} = {frame}.select_dtypes(include="number")']
    if all(table.is_numeric(c) for c in columns):
        return [f"{name} = {cols(frame, (*columns, *keep))}"]
    lines = [
        "# Columns stored as text are read as numbers; values that are not numbers become NaN."
    ]
    lines.append(f"{name} = pd.DataFrame(")
    lines.append("    {")
    for column in (*columns, *keep):
        expr = (
            col(frame, column)
            if table.is_numeric(column) or column in keep
            else f'pd.to_numeric({col(frame, column)}, errors="coerce")'
        )
        lines.append(f"        {q(column)}: {expr},")
    lines.append("    }")
    lines.append(")")
    return lines


def text_columns(table: Table, columns: tuple[str, ...]) -> list[str]:
    return [c for c in columns if not table.is_numeric(c)]


def not_numbers(table: Table, frame: str, columns: tuple[str, ...]) -> list[tuple[str, str]]:
    """How many values of each text column could not be read as numbers."""
    coerced = text_columns(table, columns)
    if not coerced:
        return []
    entries = ", ".join(
        f"{q(c)}: int({col(frame, c)}.notna().sum() - numbers[{q(c)}].notna().sum())"
        for c in coerced
    )
    return [("not_numbers", "{" + entries + "}")]


def not_numbers_note(data: dict[str, Any]) -> str:
    notes = [
        f"`{column}` is stored as text: {plural(n, 'value')} that "
        f"{'is' if n == 1 else 'are'} not a number {'was' if n == 1 else 'were'} left out"
        for column, n in (data.get("not_numbers") or {}).items()
    ]
    return ("\n\n" + "; ".join(notes) + ".") if notes else ""


@dataclass(frozen=True)
class Stats(Recipe):
    columns: tuple[str, ...] = ()  # empty: every numeric column
    statistics: tuple[str, ...] = DESCRIBE
    kind = "statistics"

    def _what(self) -> str:
        if set(DESCRIBE) <= set(self.statistics) and len(self.statistics) == len(DESCRIBE):
            return "summary statistics"
        return listing([_NAMES.get(s, statistic(s)[0] + " percentile") for s in self.statistics])

    def _of(self) -> str:
        return ticked(self.columns) if self.columns else "every numeric column"

    def title(self) -> str:
        return f"{self._what().capitalize()} of {self._of().replace('`', '')}"

    def intent(self) -> str:
        return f"compute the {self._what()} of {self._of()} in {self.scope()}"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        lines = numbers_frame(self.table, frame, self.columns)
        lines.append("stats = pd.DataFrame(")
        lines.append("    {")
        for name in self.statistics:
            header, expr = statistic(name)
            comment = "  # sample standard deviation (ddof=1)" if name == "std" else ""
            lines.append(f"        {q(header)}: {expr},{comment}")
        lines.append("    }")
        lines.append(")")
        lines.append("display(stats)")
        results = [
            ("stats", 'stats.to_dict(orient="split")'),
            ("values", "numbers.count().to_dict()"),
            *not_numbers(self.table, frame, self.columns),
        ]
        return lines, results

    def answer(self, data: dict[str, Any]) -> str:
        stats = data["stats"]
        if not stats["index"]:
            return f"{self.scope()} has no numeric columns, so there are no statistics to compute."
        if len(stats["index"]) == 1 and len(stats["columns"]) == 1 and self.columns:
            column = stats["index"][0]
            values = data["values"].get(column)
            text = (
                f"The {self._what()} of `{column}` in {self.scope()} is "
                f"**{fmt(stats['data'][0][0])}** ({plural(values, 'value')})."
            )
            return text + not_numbers_note(data)
        head = f"**{self._what().capitalize()} of {self._of()}** in {self.scope()}:"
        text = head + "\n\n" + split_table(stats, "column") + not_numbers_note(data)
        if not self.columns:
            text += self._left_out_note()
        return text

    def _left_out_note(self) -> str:
        """Columns of numbers that were read as text (a stray "unknown") are not numeric."""
        texts = [
            c
            for c in self.table.columns
            if self.table.kind(c) == "number" and not self.table.is_numeric(c)
        ]
        if not texts:
            return ""
        verb = "holds" if len(texts) == 1 else "hold"
        return (
            f"\n\n{ticked(texts)} {verb} numbers stored as text, so "
            f"{'it is' if len(texts) == 1 else 'they are'} "
            "not included; name a column to have its values read as numbers."
        )


@dataclass(frozen=True)
class Missing(Recipe):
    columns: tuple[str, ...] = ()
    kind = "missing"

    def title(self) -> str:
        return "Missing values per column"

    def intent(self) -> str:
        of = ticked(self.columns) if self.columns else "each column"
        return f"count the missing values in {of} of {self.scope()}"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        checked = cols(frame, self.columns) if self.columns else frame
        lines = [
            f"missing = {checked}.isna().sum()",
            "report = pd.DataFrame(",
            f'    {{"missing": missing, "percent": (missing / len({frame}) * 100).round(2)}}',
            ")",
            "display(report)",
        ]
        return lines, [
            ("n_rows", f"len({frame})"),
            ("missing", "missing.to_dict()"),
            ("percent", 'report["percent"].to_dict()'),
            ("total_missing", "int(missing.sum())"),
            ("rows_with_missing", f"int({checked}.isna().any(axis=1).sum())"),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        missing: dict[str, int] = data["missing"]
        with_gaps = [c for c, n in missing.items() if n]
        if not with_gaps:
            checked = ticked(self.columns) if self.columns else "any column"
            return (
                f"No missing values in {checked} of {self.scope()} "
                f"({plural(data['n_rows'], 'row')})."
            )
        head = (
            f"{self.scope()} has **{plural(data['total_missing'], 'missing value')}** in "
            f"{len(with_gaps)} of {plural(len(missing), 'column')}; "
            f"{data['rows_with_missing']} of {plural(data['n_rows'], 'row')} have at least one:"
        )
        shown = self.columns or tuple(with_gaps)
        rows = [[c, missing[c], data["percent"][c]] for c in shown]
        return head + "\n\n" + table(["column", "missing", "% of rows"], rows)


@dataclass(frozen=True)
class ValueCounts(Recipe):
    column: str | None = None  # None: the number of distinct values of every column
    kind = "value_counts"

    def title(self) -> str:
        return f"Value counts of {self.column}" if self.column else "Distinct values per column"

    def intent(self) -> str:
        if self.column is None:
            return f"count the distinct values of each column of {self.scope()}"
        return f"count how often each value of `{self.column}` occurs in {self.scope()}"

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        if self.column is None:
            lines = [
                f"distinct = {frame}.nunique()",
                'display(distinct.to_frame("distinct values"))',
            ]
            return lines, [("distinct", "distinct.to_dict()")]
        values = col(frame, self.column)
        lines = [
            "# dropna=False: missing values are counted too, as their own row.",
            f"counts = {values}.value_counts(dropna=False)",
            "report = pd.DataFrame(",
            f'    {{"count": counts, "percent": (counts / len({frame}) * 100).round(2)}}',
            ")",
            "display(report)",
        ]
        return lines, [
            ("labels", "counts.index.tolist()"),
            ("counts", "counts.tolist()"),
            ("percent", 'report["percent"].tolist()'),
            ("distinct", f"int({values}.nunique())"),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        if self.column is None:
            rows = list(data["distinct"].items())
            head = f"**Distinct values per column** of {self.scope()}:"
            return head + "\n\n" + table(["column", "distinct values"], rows)
        labels = ["*(missing)*" if label is None else label for label in data["labels"]]
        rows = list(zip(labels, data["counts"], data["percent"], strict=False))
        head = (
            f"**`{self.column}`** in {self.scope()} has "
            f"{plural(data['distinct'], 'distinct value')}:"
        )
        return head + "\n\n" + table([self.column, "count", "% of rows"], rows)


@dataclass(frozen=True)
class Correlation(Recipe):
    columns: tuple[str, ...] = ()  # empty: every numeric column
    method: str = "pearson"
    target: str | None = None  # one column against all the others
    kind = "correlation"

    def extra_imports(self) -> tuple[str, ...]:
        return ("import numpy as np",) if self._matrix else ()

    @property
    def _matrix(self) -> bool:
        return self.target is None and len(self.columns) != 2

    def title(self) -> str:
        if len(self.columns) == 2:
            return (
                f"{self.method.capitalize()} correlation of {self.columns[0]} and {self.columns[1]}"
            )
        if self.target:
            return f"{self.method.capitalize()} correlation of {self.target} with the other columns"
        return f"{self.method.capitalize()} correlation matrix"

    def intent(self) -> str:
        if len(self.columns) == 2:
            return (
                f"compute the {self.method.capitalize()} correlation between "
                f"{ticked(self.columns)} in {self.scope()}"
            )
        if self.target:
            return (
                f"correlate `{self.target}` with every other numeric column of {self.scope()} "
                f"({self.method.capitalize()})"
            )
        of = ticked(self.columns) if self.columns else "the numeric columns"
        return (
            f"compute the {self.method.capitalize()} correlation matrix of {of} in {self.scope()}"
        )

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        method = q(self.method)
        if len(self.columns) == 2:
            a, b = self.columns
            lines = numbers_frame(self.table, frame, self.columns)
            lines += [
                "pairs = numbers.dropna()  # only rows that have both values",
                f"r = pairs[{q(a)}].corr(pairs[{q(b)}], method={method})",
                f'print(f"{self.method} r = {{r:.4f}} over {{len(pairs)}} rows")',
            ]
            return lines, [("r", "r"), ("pairs", "len(pairs)")]
        columns = self.columns
        if self.target and columns and self.target not in columns:
            columns = (self.target, *columns)
        lines = numbers_frame(self.table, frame, columns)
        if self.target:
            lines += [
                f"corr = numbers.corr(method={method})[{q(self.target)}].drop({q(self.target)})",
                "corr = corr.sort_values(key=abs, ascending=False)",
                f'display(corr.to_frame("r with {self.target}"))',
            ]
            return lines, [("labels", "corr.index.tolist()"), ("values", "corr.tolist()")]
        lines += [
            f"corr = numbers.corr(method={method})",
            "display(corr.round(3))",
            "# Each pair once (above the diagonal), strongest first, whatever the sign.",
            "upper = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1))",
            "pairs = upper.stack().sort_values(key=abs, ascending=False)",
        ]
        return lines, [
            ("matrix", 'corr.to_dict(orient="split")'),
            ("pairs", "[[a, b, r] for (a, b), r in pairs.items()]"),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        name = self.method.capitalize()
        if len(self.columns) == 2:
            a, b = self.columns
            if data["r"] is None:
                pairs = plural(data["pairs"], "row")
                return (
                    f"The {name} correlation of `{a}` and `{b}` is undefined "
                    f"({pairs} with both values)."
                )
            return (
                f"The {name} correlation between `{a}` and `{b}` in {self.scope()} is "
                f"**r = {fmt(data['r'])}** ({strength(data['r'])}, over "
                f"{plural(data['pairs'], 'row')} with both values)."
            )
        if self.target:
            rows = list(zip(data["labels"], data["values"], strict=False))
            head = (
                f"**{name} correlation of `{self.target}` with the other numeric columns** "
                f"of {self.scope()}, strongest first:"
            )
            return head + "\n\n" + table(["column", "r"], rows)
        matrix = data["matrix"]
        if len(matrix["columns"]) < 2:
            return (
                f"{self.scope()} has fewer than two numeric columns: there is nothing to correlate."
            )
        text = f"**{name} correlation matrix** of {self.scope()}:\n\n" + split_table(matrix, "")
        strongest = [p for p in data["pairs"] if p[2] is not None][:3]
        if strongest:
            pairs = "; ".join(
                f"`{a}` and `{b}`: r = {fmt(r)} ({strength(r)})" for a, b, r in strongest
            )
            text += f"\n\nStrongest pairs: {pairs}."
        return text


def strength(r: float) -> str:
    size = abs(r)
    word = (
        "very strong"
        if size >= 0.8
        else "strong"
        if size >= 0.6
        else "moderate"
        if size >= 0.4
        else "weak"
        if size >= 0.2
        else "very weak or none"
    )
    if size < 0.2:
        return word
    return f"{word} {'positive' if r > 0 else 'negative'}"


@dataclass(frozen=True)
class Overview(Recipe):
    kind = "overview"

    def title(self) -> str:
        return "Overview: size, column types, missing values and numeric summaries"

    def intent(self) -> str:
        return (
            f"give an overview of {self.scope()}: its size, each column's type, missing and "
            "distinct values, and summary statistics of the numeric columns"
        )

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        lines = [
            f'print(f"{{len({frame})}} rows x {{{frame}.shape[1]}} columns")',
            "overview = pd.DataFrame(",
            "    {",
            f'        "dtype": {frame}.dtypes.astype(str),',
            f'        "missing": {frame}.isna().sum(),',
            f'        "distinct": {frame}.nunique(),',
            "    }",
            ")",
            "display(overview)",
            "",
            f'numbers = {frame}.select_dtypes(include="number")',
            'stats = numbers.agg(["mean", "std", "min", "median", "max"]).T',
            "display(stats)",
        ]
        return lines, [
            ("n_rows", f"len({frame})"),
            ("n_columns", f"{frame}.shape[1]"),
            ("columns", 'overview.reset_index().to_dict(orient="split")'),
            ("stats", 'stats.to_dict(orient="split")'),
            ("total_missing", f"int({frame}.isna().sum().sum())"),
        ]

    def answer(self, data: dict[str, Any]) -> str:
        columns = data["columns"]
        columns["columns"][0] = "column"
        parts = [
            f"**{self.scope()}: {plural(data['n_rows'], 'row')} \N{MULTIPLICATION SIGN} "
            f"{plural(data['n_columns'], 'column')}**, "
            f"{plural(data['total_missing'], 'missing value')} in all.",
            split_table(columns),
        ]
        if data["stats"]["index"]:
            parts.append("Numeric columns:")
            parts.append(split_table(data["stats"], "column"))
        return "\n\n".join(parts)
