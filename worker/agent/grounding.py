"""Grounded numbers: every number a final answer states is looked up in the outputs of the
job's cells (rounding allowed). Numbers found in no output — nor in the request itself — are
"ungrounded": listed on the job, shown in the answer's notebook cell, and, with a language
model, sent back to it once to correct or justify.

A number is grounded when some output number rounds to it at the precision it is written with
("3.43" is grounded by 3.4333, "12%" by 0.1204 or 12.04, "4.7e-88" by 4.73e-88).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# A number as written in prose or a table: "-1,234.56", "0.05", "4.73e-88", "12%". Not the
# digits inside a word or a name ("s1", "class_0", "H0", "2x2"), nor parts of a date.
_NUMBER = re.compile(
    r"(?<![\w.\-/:])(?P<sign>[-\u2212])?(?P<body>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<exp>[eE][-+]?\d+|\s?[\u00d7x]\s?10\^?[-\u2212]?\d+)?(?P<pct>\s?%)?(?![\w.\-/:]*\w)"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?|\d{1,2}:\d{2}(?::\d{2})?")
_CODE = re.compile(r"```.*?```", re.S)
# Output text is read for every number in it, whatever sits around it.
_ANY_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Written:
    """A number as the answer wrote it."""

    text: str
    value: float
    decimals: int  # digits after the point as written (significant digits for 1e-5 forms)
    percent: bool
    scientific: bool


def numbers_in_answer(text: str) -> list[Written]:
    """The numbers of a markdown answer, in order; dates and times are not numbers here."""
    text = _CODE.sub(" ", text)
    text = _DATE.sub(" ", text)
    found: list[Written] = []
    for match in _NUMBER.finditer(text):
        body = match["body"].replace(",", "")
        exp = match["exp"] or ""
        sign = -1.0 if match["sign"] else 1.0
        try:
            value = float(body)
        except ValueError:
            continue
        scientific = bool(exp)
        if exp:
            value *= 10.0 ** _power(exp)
        decimals = len(body.split(".")[1]) if "." in body else 0
        found.append(
            Written(match.group(0).strip(), sign * value, decimals, bool(match["pct"]), scientific)
        )
    return found


def _power(exp: str) -> int:
    """"e-88" → -88, "x 10^-5" → -5."""
    exp = exp.replace("\u2212", "-").replace(" ", "")
    if exp[:1] in "eE":
        return int(exp[1:])
    return int(exp.split("10", 1)[1].lstrip("^") or 0)


def _walk(value: Any) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if math.isfinite(value):
            yield float(value)
        return
    if isinstance(value, str):
        yield from _numbers_in_text(value)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers_in_text(str(key))
            yield from _walk(item)
        return
    if isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)


def _numbers_in_text(text: str) -> Iterator[float]:
    for match in _ANY_NUMBER.finditer(text.replace(",", "")):
        try:
            number = float(match[0])
        except ValueError:
            continue
        if math.isfinite(number):
            yield number


def output_numbers(outputs: Iterable[dict[str, Any]]) -> list[float]:
    """Every number in nbformat outputs: printed text, results, tables, JSON."""
    seen: set[float] = set()
    for output in outputs:
        kind = output.get("output_type")
        parts: list[Any] = []
        if kind == "stream":
            parts.append(_text(output.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            data = output.get("data") or {}
            for mime, payload in data.items():
                if mime.startswith("image/") or mime == "text/html":
                    continue  # pictures hold no numbers; HTML repeats the other parts
                if isinstance(payload, str | list) and not mime.endswith("json"):
                    parts.append(_text(payload))
                else:
                    parts.append(payload)
        elif kind == "error":
            parts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
        for part in parts:
            seen.update(_walk(part))
    return sorted(seen)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _rounds_to(candidate: float, written: Written) -> bool:
    target = abs(written.value)
    value = abs(candidate)
    if written.scientific:
        digits = max(written.decimals, 0) + 1
        return value > 0 and math.isclose(value, target, rel_tol=0.5 * 10 ** (1 - digits) + 1e-12)
    step = 10.0 ** (-written.decimals)
    return abs(value - target) <= step / 2 + 1e-9 * max(1.0, target)


def is_grounded(written: Written, pool: list[float]) -> bool:
    candidates = [written]
    if written.percent:
        candidates.append(
            Written(written.text, written.value / 100, written.decimals + 2, False, False)
        )
    else:
        # "0.12" may be a share printed as 12%.
        candidates.append(
            Written(written.text, written.value * 100, max(written.decimals - 2, 0), False, False)
        )
    return any(_rounds_to(x, c) for c in candidates for x in pool)


def ungrounded_numbers(
    answer: str, outputs: Iterable[dict[str, Any]], given: str = ""
) -> list[str]:
    """The numbers of `answer` (as written, each once) that no output holds, nor `given` (the
    request: a threshold or a significance level the person chose is not invented)."""
    pool = output_numbers(outputs)
    pool += [w.value for w in numbers_in_answer(given)]
    pool += [w.value / 100 for w in numbers_in_answer(given) if w.percent]
    out: list[str] = []
    for written in numbers_in_answer(answer):
        if written.text in out:
            continue
        if not is_grounded(written, pool):
            out.append(written.text)
    return out


def ungrounded_note(numbers: list[str]) -> str:
    """What the answer's notebook cell says under an answer with ungrounded numbers."""
    listed = ", ".join(f"`{n}`" for n in numbers)
    return (
        f"\n\n---\n*Not found in any output of the cells above: {listed}. "
        "These numbers were not computed in this notebook; check them before relying on "
        "them.*"
    )


def revision_request(numbers: list[str]) -> str:
    """What the model is told, once, when its final answer states numbers no cell printed."""
    listed = ", ".join(numbers)
    return (
        f"These numbers in your final answer appear in no output of the code you ran: "
        f"{listed}. Compute and print them with code, or correct or justify them, then give "
        "your final answer again."
    )


__all__ = [
    "Written",
    "is_grounded",
    "numbers_in_answer",
    "output_numbers",
    "revision_request",
    "ungrounded_note",
    "ungrounded_numbers",
]
