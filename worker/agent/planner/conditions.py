"""Simple row conditions ("revenue > 1000", "region is West", "date after 2024-03-01")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from worker.agent.planner.code import as_dates, as_numbers, col, num, q
from worker.agent.planner.names import STOPWORDS
from worker.agent.planner.tables import Table

Op = Literal[">", ">=", "<", "<=", "=", "!=", "contains", "missing", "present"]

_PYTHON_OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "=": "==", "!=": "!="}
_SAID_OPS = {
    ">": ">",
    ">=": "≥",
    "<": "<",
    "<=": "≤",
    "=": "is",
    "!=": "is not",
    "contains": "contains",
}


@dataclass(frozen=True)
class Condition:
    column: str
    op: Op
    value: float | str | None = None
    kind: Literal["number", "text", "date", "year", "none"] = "number"

    def mask(self, table: Table, frame: str) -> str:
        """A boolean Series expression over `frame`."""
        if self.op == "missing":
            return f"{col(frame, self.column)}.isna()"
        if self.op == "present":
            return f"{col(frame, self.column)}.notna()"
        if self.kind == "text":
            text = f"{col(frame, self.column)}.astype(str)"
            value = str(self.value)
            if self.op == "contains":
                return f"{text}.str.contains({q(value)}, case=False, regex=False)"
            # Compared ignoring case: "west" finds "West".
            return f"{text}.str.casefold() {_PYTHON_OPS[self.op]} {q(value.casefold())}"
        if self.kind == "date":
            dates = as_dates(table, frame, self.column)
            return f"{dates} {_PYTHON_OPS[self.op]} pd.Timestamp({q(str(self.value))})"
        if self.kind == "year":
            dates = as_dates(table, frame, self.column)
            return f"{dates}.dt.year {_PYTHON_OPS[self.op]} {num(float(self.value or 0))}"
        numbers = as_numbers(table, frame, self.column)
        return f"{numbers} {_PYTHON_OPS[self.op]} {num(float(self.value or 0))}"

    def describe(self) -> str:
        """Markdown, e.g. `revenue` > 1000 or `region` is "West"."""
        if self.op == "missing":
            return f"`{self.column}` is missing"
        if self.op == "present":
            return f"`{self.column}` is not missing"
        if self.kind == "text":
            return f'`{self.column}` {_SAID_OPS[self.op]} "{self.value}"'
        if self.kind == "year":
            return f"the year of `{self.column}` {_SAID_OPS[self.op]} {num(float(self.value or 0))}"
        value = self.value if self.kind == "date" else num(float(self.value or 0))
        return f"`{self.column}` {_SAID_OPS[self.op]} {value}"


def combined_mask(conditions: tuple[Condition, ...], table: Table, frame: str) -> str:
    masks = [c.mask(table, frame) for c in conditions]
    if len(masks) == 1:
        return masks[0]
    return " & ".join(f"({m})" for m in masks)


# --- reading conditions out of a clause's template -----------------------------------------

_BE = r"(?:(?:is|are|was|were|be) )?"
_OP_PHRASES: tuple[tuple[str, str], ...] = (
    ("missing", r"(?:is|are|was|were) (?:missing|empty|blank)"),
    ("present", r"(?:is|are|was|were) not (?:missing|empty|blank)"),
    (
        ">=",
        _BE + r"(?:>=|greater than or equal to|more than or equal to|at least|no less than"
        r"|not less than|on or after|since|from)",
    ),
    (
        "<=",
        _BE + r"(?:<=|less than or equal to|at most|no more than|not more than|up to"
        r"|on or before|until|through)",
    ),
    ("!=", r"(?:!=|is not|are not|isn t|not equal to|does not equal|other than|not)"),
    (
        ">",
        _BE + r"(?:>|greater than|more than|higher than|larger than|bigger than|above|over"
        r"|exceeds|exceeding|exceed|after|later than)",
    ),
    (
        "<",
        _BE + r"(?:<|less than|lower than|smaller than|fewer than|below|under|before"
        r"|earlier than)",
    ),
    ("contains", r"(?:contains|containing|includes|including|mentions|like)"),
    ("=", r"(?:=|is equal to|are equal to|equal to|equals|equal|is|are|was|were)"),
)
_VALUE = r"(?P<v>-?\d+(?:\.\d+)?|\d{4}-\d{2}-\d{2}(?: [\d:]+)?|\$\d+|[a-z][\w\-]*)"
_OP_RE = "|".join(f"(?P<op{i}>{p})" for i, (_, p) in enumerate(_OP_PHRASES))
_COLUMN_OP_VALUE = re.compile(rf"@(?P<c>\d+) (?:{_OP_RE})(?: {_VALUE})?(?=\s|$)")
# "with more than 40 units": the number before the column.
_OP_VALUE_COLUMN = re.compile(rf"(?:{_OP_RE}) (?P<v>-?\d+(?:\.\d+)?) @(?P<c>\d+)")
_BETWEEN = re.compile(
    r"@(?P<c>\d+) (?:(?:is|are|was|were) )?between (?P<lo>-?\d+(?:\.\d+)?|\d{4}-\d{2}-\d{2}) "
    r"and (?P<hi>-?\d+(?:\.\d+)?|\d{4}-\d{2}-\d{2})"
)
# "in the West region", "for product Widget", "from North region"
_VALUE_THEN_COLUMN = re.compile(
    r"\b(?:in|for|from|within|at|on) (?P<v>[a-z][\w\-]*|\$\d+) @(?P<c>\d+)"
)
_COLUMN_THEN_VALUE = re.compile(
    r"\b(?:for|in|where|with|from|of) @(?P<c>\d+) (?P<v>[a-z][\w\-]*|\$\d+|\d+)(?=\s|$)"
)
# "orders after 2024-06-01": a date with no column applies to the table's date column.
_BARE_DATE = re.compile(
    r"\b(?P<op>on or after|on or before|after|since|from|before|until|through) "
    r"(?P<v>\d{4}-\d{2}-\d{2})"
)
_BARE_DATE_OPS = {
    "on or after": ">=",
    "since": ">=",
    "from": ">=",
    "after": ">",
    "on or before": "<=",
    "until": "<=",
    "through": "<=",
    "before": "<",
}
_NOT_VALUES = STOPWORDS | {"is", "are", "was", "not", "only", "sorted", "than", "s", "t"}


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    condition: Condition


def _value(raw: str, quoted: list[str]) -> tuple[str, float | str] | None:
    """("number", 1000.0), ("date", "2024-03-01"), ("text", "west") or None."""
    if raw.startswith("$") and raw[1:].isdigit():
        index = int(raw[1:])
        return ("text", quoted[index]) if index < len(quoted) else None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}(?: [\d:]+)?", raw):
        return "date", raw
    if re.fullmatch(r"-?\d+(?:\.\d+)?", raw):
        return "number", float(raw)
    if raw in _NOT_VALUES:
        return None
    return "text", raw


def _condition(
    table: Table, column: str, op: str, raw: str | None, quoted: list[str]
) -> Condition | None:
    if op in ("missing", "present"):
        return Condition(column, op, None, "none")  # type: ignore[arg-type]
    if raw is None:
        return None
    parsed = _value(raw, quoted)
    if parsed is None:
        return None
    kind, value = parsed
    column_kind = table.kind(column)
    if column_kind == "date":
        if kind == "date":
            return Condition(column, op, value, "date")  # type: ignore[arg-type]
        if kind == "number" and op != "contains" and 1000 <= float(value) <= 9999:
            return Condition(column, op, value, "year")  # type: ignore[arg-type]
        return None
    if kind == "number":
        if column_kind in ("text", "bool") and op in ("=", "!=", "contains"):
            # A code like "42" in a text column: compare as text.
            return Condition(column, op, raw, "text")  # type: ignore[arg-type]
        if column_kind != "number" or op == "contains":
            return None
        return Condition(column, op, value, "number")  # type: ignore[arg-type]
    if kind == "text" and op in ("=", "!=", "contains") and column_kind in ("text", "bool"):
        return Condition(column, op, value, "text")  # type: ignore[arg-type]
    return None


def find_conditions(
    template: str,
    columns: list[str],
    table: Table,
    quoted: list[str],
    spelled: dict[str, str] | None = None,
) -> list[Found]:
    """Conditions in `template`, whose `@i` placeholders stand for `columns[i]`.

    `spelled` maps a lower-case word back to how the request wrote it ("west" → "West").
    """
    spelled = spelled or {}
    found: list[Found] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    def add(start: int, end: int, condition: Condition | None) -> None:
        if condition is not None and condition.kind == "text" and isinstance(condition.value, str):
            value = spelled.get(condition.value, condition.value)
            condition = Condition(condition.column, condition.op, value, "text")
        if condition is not None and free(start, end):
            found.append(Found(start, end, condition))
            taken.append((start, end))

    for match in _BETWEEN.finditer(template):
        column = columns[int(match["c"])]
        low, high = match["lo"], match["hi"]
        lower = _condition(table, column, ">=", low, quoted)
        upper = _condition(table, column, "<=", high, quoted)
        if lower and upper:
            add(match.start(), match.end(), lower)
            found.append(Found(match.start(), match.end(), upper))
    for match in _COLUMN_OP_VALUE.finditer(template):
        op = next(_OP_PHRASES[i][0] for i in range(len(_OP_PHRASES)) if match[f"op{i}"])
        column = columns[int(match["c"])]
        add(match.start(), match.end(), _condition(table, column, op, match["v"], quoted))
    for match in _OP_VALUE_COLUMN.finditer(template):
        op = next(_OP_PHRASES[i][0] for i in range(len(_OP_PHRASES)) if match[f"op{i}"])
        if op in (">", ">=", "<", "<=") and table.kind(columns[int(match["c"])]) == "number":
            add(
                match.start(),
                match.end(),
                _condition(table, columns[int(match["c"])], op, match["v"], quoted),
            )
    for pattern in (_VALUE_THEN_COLUMN, _COLUMN_THEN_VALUE):
        for match in pattern.finditer(template):
            column = columns[int(match["c"])]
            # "for sensor 2": a whole number names one value of an integer column (an id).
            an_id = match["v"].isdigit() and table.dtypes.get(column, "").lower().startswith(
                ("int", "uint")
            )
            if table.kind(column) != "text" and not an_id:
                continue
            add(match.start(), match.end(), _condition(table, column, "=", match["v"], quoted))
    if table.date_columns:
        for match in _BARE_DATE.finditer(template):
            condition = Condition(
                table.date_columns[0], _BARE_DATE_OPS[match["op"]], match["v"], "date"
            )  # type: ignore[arg-type]
            add(match.start(), match.end(), condition)
    return sorted(found, key=lambda f: f.start)
