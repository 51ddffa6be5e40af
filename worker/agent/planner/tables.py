"""What the planner knows about one input table: its columns and what kind each one is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePath
from typing import Literal

from worker.agent.model import FileSummary

ColumnKind = Literal["number", "date", "text", "bool"]

_NUMERIC_DTYPE = re.compile(r"^(?:u?int|float|complex|Int|UInt|Float)\d*")
_DATE_NAME = re.compile(
    r"(?:^|_|\b)(?:date|time|timestamp|datetime|day|month|week|period|when|dt|ts)(?:$|_|\b)", re.I
)
_NUMBER = re.compile(r"^\s*[-+]?\$?\d[\d,]*(?:\.\d+)?%?\s*$")
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)


def dtype_kind(dtype: str) -> ColumnKind:
    if dtype.startswith("datetime") or dtype.startswith("period"):
        return "date"
    if dtype in ("bool", "boolean"):
        return "bool"
    if _NUMERIC_DTYPE.match(dtype):
        return "number"
    return "text"


@dataclass(frozen=True)
class Table:
    summary: FileSummary

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
    def dtypes(self) -> dict[str, str]:
        return {c.name: c.dtype for c in self.summary.columns}

    @cached_property
    def kinds(self) -> dict[str, ColumnKind]:
        kinds: dict[str, ColumnKind] = {}
        for column in self.summary.columns:
            kind = dtype_kind(column.dtype)
            if kind == "text" and self._looks_like_dates(column.name):
                kind = "date"  # read as text (CSV); the generated code parses it
            elif kind == "text" and self._looks_like_numbers(column.name):
                kind = "number"  # numbers with a few words among them ("unknown", "n/a")
            kinds[column.name] = kind
        return kinds

    def _looks_like_dates(self, column: str) -> bool:
        values = [row.get(column) for row in self.summary.head if row.get(column) is not None]
        if values:
            return all(isinstance(v, str) and _ISO_DATE.match(v.strip()) for v in values)
        return bool(_DATE_NAME.search(column))

    def _looks_like_numbers(self, column: str) -> bool:
        values = [row.get(column) for row in self.summary.head if row.get(column) is not None]
        numbers = [v for v in values if isinstance(v, int | float) or _NUMBER.match(str(v))]
        return len(values) >= 2 and len(numbers) >= 0.6 * len(values)

    def kind(self, column: str) -> ColumnKind:
        return self.kinds.get(column, "text")

    def is_numeric(self, column: str) -> bool:
        """Held as numbers in the kernel (else the code converts it)."""
        return dtype_kind(self.dtypes.get(column, "")) == "number"

    def parsed_as_dates(self, column: str) -> bool:
        """A date column the kernel holds as datetimes (else the code must parse it)."""
        return dtype_kind(self.dtypes.get(column, "")) == "date"

    @property
    def numeric_columns(self) -> list[str]:
        return [c for c in self.columns if self.is_numeric(c)]

    @property
    def date_columns(self) -> list[str]:
        return [c for c in self.columns if self.kind(c) == "date"]
