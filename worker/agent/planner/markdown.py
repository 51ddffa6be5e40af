"""Numbers and tables read back from the kernel, written as markdown."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

MAX_TABLE_ROWS = 20
MAX_TABLE_COLUMNS = 12

_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:Z)?$")


def exact(value: Any) -> str:
    """A value from the data as it is (up to 10 significant digits): rows are shown, not rounded."""
    if isinstance(value, float) and math.isfinite(value) and value != int(value):
        return f"{value:.10g}"
    return fmt(value)


def fmt(value: Any) -> str:
    """A computed value as a person reads it: 1234.5678 → 1234.57, 0.812345 → 0.8123."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a" if math.isnan(value) else str(value)
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        if abs(value) >= 1:
            return f"{value:.2f}".rstrip("0").rstrip(".")
        return f"{value:.4g}"
    text = str(value)
    iso = _ISO.match(text)
    if iso:
        return iso[1] if iso[2] == "00:00:00" else f"{iso[1]} {iso[2]}"
    return text.replace("|", "\\|").replace("\n", " ")


def table(
    headers: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    numeric_right: bool = True,
    as_is: bool = False,
) -> str:
    """A markdown table; numbers right-aligned. Long tables are cut (the notebook has them all)."""
    headers = list(headers)[:MAX_TABLE_COLUMNS]
    shown = [list(r)[: len(headers)] for r in rows[:MAX_TABLE_ROWS]]
    aligns = []
    for i in range(len(headers)):
        column = [r[i] for r in shown if i < len(r) and r[i] is not None]
        is_number = bool(column) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in column
        )
        aligns.append("---:" if numeric_right and is_number else "---")
    lines = [
        "| " + " | ".join(fmt(h) if h != "" else " " for h in headers) + " |",
        "|" + "|".join(aligns) + "|",
    ]
    show = exact if as_is else fmt
    lines += ["| " + " | ".join(show(v) for v in r) + " |" for r in shown]
    notes = []
    if len(rows) > MAX_TABLE_ROWS:
        notes.append(f"{len(rows) - MAX_TABLE_ROWS} more rows")
    if len(list(rows[0]) if rows else []) > MAX_TABLE_COLUMNS:
        notes.append(f"{len(list(rows[0])) - MAX_TABLE_COLUMNS} more columns")
    if notes:
        lines.append("")
        lines.append(f"*({' and '.join(notes)} in the notebook)*")
    return "\n".join(lines)


def split_table(split: dict[str, Any], index_header: str | None = None, as_is: bool = False) -> str:
    """A DataFrame read back with `to_dict(orient="split")` as a markdown table."""
    columns = list(split.get("columns") or [])
    data = list(split.get("data") or [])
    if index_header is None:
        return table(columns, data, as_is=as_is)
    index = list(split.get("index") or [])
    rows = [[i, *row] for i, row in zip(index, data, strict=False)]
    return table([index_header, *columns], rows, as_is=as_is)


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"
