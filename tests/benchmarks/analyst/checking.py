"""Judging an answer: right, refused, wrong or error."""

from __future__ import annotations

import math
import re
from typing import Any

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?", re.I)


def numbers_in(text: str) -> list[float]:
    out = []
    for match in _NUMBER.finditer(text):
        try:
            out.append(float(match[0].replace(",", "")))
        except ValueError:
            continue
    return out


def close(said: float, expected: float) -> bool:
    """The answer rounds: 2 decimals at and above 1, 4 significant digits below."""
    if math.isclose(said, expected, rel_tol=1e-3, abs_tol=0.0):
        return True
    if abs(expected) >= 1:
        return abs(said - expected) <= 0.0051 + 5e-4 * abs(expected)
    return abs(said - expected) <= max(5e-4 * abs(expected), 5e-5) or (
        abs(expected) < 1e-4 and abs(said - expected) < 1e-4 and said != 0
    )


def stated(fact: Any, answer: str, found: list[float]) -> bool:
    if isinstance(fact, bool):
        return str(fact).lower() in answer.lower()
    if isinstance(fact, int | float) and not isinstance(fact, bool):
        if isinstance(fact, float) and math.isnan(fact):
            return "n/a" in answer or "nan" in answer.lower()
        return any(close(n, float(fact)) for n in found)
    text = str(fact)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T00:00:00(?:\.000)?", text):
        text = text[:10]
    return text.lower() in answer.lower()


def judge(expected: tuple[Any, ...] | str, answer: str | None, refusal: str | None,
          error: str | None) -> str:
    if error is not None:
        return "error"
    if expected == "refuse":
        return "right" if refusal is not None else "wrong"
    if refusal is not None:
        return "refused"
    found = numbers_in(answer or "")
    return "right" if all(stated(f, answer or "", found) for f in expected) else "wrong"
