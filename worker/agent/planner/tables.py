"""What the planner knows about one input table: its columns, what kind each one is, and (once
the profile cell ran) what their values look like."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePath
from typing import Any, Literal

from pyexec.worker.agent.model import FileSummary

ColumnKind = Literal["number", "date", "text", "bool"]

_NUMERIC_DTYPE = re.compile(r"^(?:u?int|float|Int|UInt|Float)\d*")
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_TRUE = {"yes", "y", "true", "t", "1", "1.0"}
_FALSE = {"no", "n", "false", "f", "0", "0.0"}


def dtype_kind(dtype: str) -> ColumnKind:
    if dtype.startswith(("datetime", "period")):
        return "date"
    if dtype in ("bool", "boolean"):
        return "bool"
    if _NUMERIC_DTYPE.match(dtype):
        return "number"
    return "text"


@dataclass(frozen=True)
class Facts:
    """The profile cell's facts about one column."""

    missing: int = 0
    distinct: int = 0
    values: tuple[Any, ...] | None = None  # every distinct value, when there are few
    integers: bool = False
    numbers: int | None = None  # text columns: values that read as numbers
    na_words: int = 0  # text columns: values like "n/a", "unknown"
    not_numbers: tuple[str, ...] = ()  # text columns: examples of values that are not numbers
    date_like: bool = False

    @classmethod
    def of(cls, data: dict[str, Any]) -> Facts:
        values = data.get("values")
        return cls(
            missing=int(data.get("missing") or 0),
            distinct=int(data.get("distinct") or 0),
            values=tuple(values) if isinstance(values, list) else None,
            integers=bool(data.get("integers")),
            numbers=data.get("numbers"),
            na_words=int(data.get("na_words") or 0),
            not_numbers=tuple(str(v) for v in data.get("not_numbers") or ()),
            date_like=bool(data.get("date_like")),
        )


@dataclass(frozen=True)
class Table:
    summary: FileSummary
    profile: dict[str, Facts] = field(default_factory=dict)
    rows: int | None = None

    @property
    def name(self) -> str:
        return self.summary.name

    @property
    def variable(self) -> str:
        return self.summary.variable or "df"

    @property
    def stem(self) -> str:
        return PurePath(self.summary.name).name.split(".")[0].lower()

    @cached_property
    def columns(self) -> list[str]:
        return [c.name for c in self.summary.columns]

    @cached_property
    def duplicated(self) -> set[str]:
        seen: set[str] = set()
        return {c for c in self.columns if c in seen or seen.add(c)}  # type: ignore[func-returns-value]

    @cached_property
    def dtypes(self) -> dict[str, str]:
        return {c.name: c.dtype for c in self.summary.columns}

    def facts(self, column: str) -> Facts:
        return self.profile.get(column, Facts())

    @cached_property
    def kinds(self) -> dict[str, ColumnKind]:
        kinds: dict[str, ColumnKind] = {}
        for column in self.summary.columns:
            kind = dtype_kind(column.dtype)
            if kind == "text" and self._looks_like_dates(column.name):
                kind = "date"  # read as text (CSV); the generated code parses it
            kinds[column.name] = kind
        return kinds

    def _looks_like_dates(self, column: str) -> bool:
        facts = self.profile.get(column)
        if facts is not None and facts.date_like:
            return True
        values = [row.get(column) for row in self.summary.head if row.get(column) is not None]
        return bool(values) and all(
            isinstance(v, str) and _ISO_DATE.match(v.strip()) for v in values
        )

    def kind(self, column: str) -> ColumnKind:
        return self.kinds.get(column, "text")

    def is_numeric(self, column: str) -> bool:
        """Held as numbers in the kernel."""
        return dtype_kind(self.dtypes.get(column, "")) == "number"

    def parsed_as_dates(self, column: str) -> bool:
        return dtype_kind(self.dtypes.get(column, "")) == "date"

    def text_of_numbers(self, column: str) -> bool:
        """A text column whose values are all numbers or words for "missing"."""
        facts = self.facts(column)
        if self.is_numeric(column) or facts.numbers is None:
            return False
        present = self.total_rows - facts.missing
        return facts.numbers > 0 and facts.numbers + facts.na_words == present

    def binary(self, column: str) -> tuple[Any, Any] | None:
        """(the true value, the false value) of a yes/no column, as held in the kernel."""
        if self.kind(column) == "bool":
            return True, False
        values = self.facts(column).values
        if values is None or len(values) != 2:
            return None
        lowered = [str(v).strip().lower() for v in values]
        if lowered[0] in _TRUE and lowered[1] in _FALSE:
            return values[0], values[1]
        if lowered[1] in _TRUE and lowered[0] in _FALSE:
            return values[1], values[0]
        return None

    @property
    def total_rows(self) -> int:
        return self.rows if self.rows is not None else (self.summary.rows or 0)

    @property
    def numeric_columns(self) -> list[str]:
        return [c for c in self.columns if self.is_numeric(c) and c not in self.duplicated]

    @property
    def date_columns(self) -> list[str]:
        return [c for c in self.columns if self.kind(c) == "date"]

    def text_values(self, column: str) -> tuple[str, ...]:
        """The distinct values of a text column, when the profile listed them."""
        if self.kind(column) != "text":
            return ()
        return tuple(str(v) for v in self.facts(column).values or ())

    def unique_per_row(self, column: str) -> bool:
        facts = self.facts(column)
        return bool(self.profile) and facts.missing == 0 and facts.distinct == self.total_rows


def with_profile(summary: FileSummary, data: dict[str, Any] | None) -> Table:
    if not data:
        return Table(summary)
    facts = {str(k): Facts.of(v) for k, v in (data.get("columns") or {}).items()}
    return Table(summary, facts, int(data.get("rows") or 0))
