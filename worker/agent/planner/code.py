"""Small pieces of generated Python: literals and column expressions that read well."""

from __future__ import annotations

import json
import math

from worker.agent.planner.tables import Table


def q(text: str) -> str:
    """A double-quoted Python string literal (pandas code is usually written that way)."""
    return json.dumps(text, ensure_ascii=False)


def num(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def col(frame: str, column: str) -> str:
    return f"{frame}[{q(column)}]"


def cols(frame: str, columns: list[str] | tuple[str, ...]) -> str:
    return f"{frame}[[{', '.join(q(c) for c in columns)}]]"


def as_numbers(table: Table, frame: str, column: str) -> str:
    """The column as numbers; text that is not a number becomes NaN (and is left out)."""
    if table.is_numeric(column):
        return col(frame, column)
    return f'pd.to_numeric({col(frame, column)}, errors="coerce")'


def as_dates(table: Table, frame: str, column: str) -> str:
    if table.parsed_as_dates(column):
        return col(frame, column)
    return f'pd.to_datetime({col(frame, column)}, errors="coerce")'


def listing(items: list[str] | tuple[str, ...], word: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def ticked(columns: list[str] | tuple[str, ...], word: str = "and") -> str:
    return listing([f"`{c}`" for c in columns], word)


def grouped_values(table: Table, frame: str, keys: list[str], value: str) -> str:
    """`df.groupby("region")["revenue"]`, with the value column read as numbers if need be."""
    by = q(keys[0]) if len(keys) == 1 else "[" + ", ".join(q(k) for k in keys) + "]"
    if table.is_numeric(value):
        return f"{frame}.groupby({by})[{q(value)}]"
    key_series = (
        col(frame, keys[0])
        if len(keys) == 1
        else "[" + ", ".join(col(frame, k) for k in keys) + "]"
    )
    return f"{as_numbers(table, frame, value)}.groupby({key_series})"
