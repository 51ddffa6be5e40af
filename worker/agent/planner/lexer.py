"""Reading a request: its clauses, and each clause's tokens (words, numbers, dates, quoted text,
operators), each with its position so that the ledger can say which words were used."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["word", "number", "date", "quoted", "op", "file", "punct"]

_FILE_SUFFIXES = r"csv|tsv|tab|txt|xlsx|xlsm|xls|parquet|pq|json|jsonl|ndjson"
_TOKEN = re.compile(
    r"""
      "(?P<dq>[^"]*)" | \u201c(?P<cq>[^\u201d]*)\u201d | `(?P<bq>[^`]*)`
    | \u2018(?P<sq2>[^\u2019]*)\u2019
    | (?<![\w'])'(?P<sq>[^']+)'(?![\w])
    | (?P<file>[\w\-]+(?:\.[\w\-]+)*\.(?:"""
    + _FILE_SUFFIXES
    + r""")(?:\.(?:gz|bz2|xz|zip|zst))?)\b
    | (?P<date>\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?|\d{4}/\d{1,2}/\d{1,2})
    | (?P<decade>(?<![\w.])(?:1[89]|20)?\d0s\b)
    | (?P<number>(?<![\w.])[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?
        (?:[kK](?![A-Za-z]))?%?|(?<![\w.])[-+]?\.\d+%?)
      (?:st|nd|rd|th)?(?![A-Za-z])
    | (?P<op>>=|<=|!=|==|=>|=<|<>|≥|≤|≠|[<>=])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:['-][A-Za-z0-9_]+)*)
    | (?P<punct>[(),/*+\-:%])
    """,
    re.VERBOSE,
)
_OPS = {"=>": ">=", "=<": "<=", "<>": "!=", "≥": ">=", "≤": "<=", "≠": "!=", "==": "="}


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # as the request wrote it (quotes removed)
    value: float | str | None = None  # numbers as float, dates as ISO text, words lower-case
    percent: bool = False  # a number written with "%"

    @property
    def word(self) -> str:
        """The lower-case word, or "" for anything that is not a word."""
        return str(self.value) if self.kind == "word" else ""


def _number(raw: str) -> float:
    text = raw.replace("$", "").replace(",", "").rstrip("%")
    text = re.sub(r"(?:st|nd|rd|th)$", "", text)
    if text[-1:] in "kK":
        return float(text[:-1]) * 1_000.0
    return float(text)


def _iso_date(raw: str) -> str:
    parts = re.split(r"[-/ T]", raw)
    year, month, day = parts[0], parts[1].zfill(2), parts[2].zfill(2)
    rest = raw[len(raw.split(" ")[0].split("T")[0]) :].strip(" T")
    return f"{year}-{month}-{day}" + (f" {rest}" if rest else "")


_R_SQUARED = re.compile(r"\b[Rr](?:\^2|²|2)(?![\w.])|\b[Rr] squared\b")


def tokens(text: str) -> list[Token]:
    text = text.replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", " - ")
    text = _R_SQUARED.sub("r-squared", text)
    out: list[Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or ""
        raw = match.group(kind)
        if kind in ("dq", "cq", "bq", "sq", "sq2"):
            if raw.strip():
                out.append(Token("quoted", raw.strip(), raw.strip()))
        elif kind == "file":
            out.append(Token("file", raw, raw))
        elif kind == "date":
            out.append(Token("date", raw, _iso_date(raw)))
        elif kind == "number":
            out.append(Token("number", raw, _number(raw), percent=raw.endswith("%")))
        elif kind == "op":
            out.append(Token("op", raw, _OPS.get(raw, raw)))
        elif kind == "decade":
            out.append(Token("word", raw, raw.lower()))
        elif kind == "punct":
            out.append(Token("punct", raw, raw))
        elif kind == "word":
            out += _words(raw)
    return out


def _words(raw: str) -> list[Token]:
    lower = raw.lower()
    if lower.endswith("n't"):
        stem = {"can": "can", "won": "will", "don": "do"}.get(lower[:-3], lower[:-3])
        return [Token("word", raw[:-3], stem), Token("word", "not", "not")]
    for suffix in ("'s", "'re", "'ve", "'ll", "'d", "'m"):
        if lower.endswith(suffix):
            raw, lower = raw[: -len(suffix)], lower[: -len(suffix)]
            break
    if "'" in lower:
        return [Token("word", raw, lower.replace("'", ""))]  # D'Agostino
    return [Token("word", raw, lower)]


# Where one request holds several tasks: sentences, semicolons, lines, "then", and an "and"
# followed by a verb that starts a task ("… and plot …"). A plain "and" joins the words of one
# task ("mean and std", "where a > 1 and b < 2").
_TASK_VERBS = (
    r"show|list|display|return|give|plot|draw|make|create|compute|calculate|find|count|sort|"
    r"filter|get|tell|print|visuali[sz]e|summari[sz]e|describe|report|identify|determine|"
    r"check|test|perform|conduct|run|fit|apply|remove|drop|fill|impute|replace|add|use|"
    r"provide|state|explain|interpret|comment|discuss|assess|evaluate|estimate|examine|"
    r"investigate|analy[sz]e|rank|order|group"
)
_CLAUSE_BREAK = re.compile(
    r"\s*(?:[;\n]+|(?<=[A-Za-z0-9)\]\"'`%])[.!?](?:\s+|$)|\?+\s*|,?\s+(?:and\s+)?then\s+"
    r"|,?\s+and\s+also\s+|,?\s+and\s+(?=(?:" + _TASK_VERBS + r")\b)|,\s+(?=(?:"
    r"show|list|display|plot|draw|compute|calculate|find|count|sort|report|identify|determine|"
    r"check|test|perform|fit|remove|drop|fill|explain|interpret|provide|give|return|then)\b))\s*",
    re.IGNORECASE,
)
_SORTING = re.compile(r"\b(?:sort|sorted|order|ordered|arrange|arranged|rank|ranked)\b", re.I)


def split_clauses(text: str) -> list[str]:
    """The request's separate tasks, in order. Quoted text is never split."""
    quoted = [m.span() for m in re.finditer(r"\"[^\"]*\"|`[^`]*`|“[^”]*”", text)]
    pieces: list[str] = []
    start = 0
    for match in _CLAUSE_BREAK.finditer(text):
        if any(a < match.start() < b for a, b in quoted):
            continue
        if (
            re.search(r"\bthen\b", match[0], re.I)
            and _SORTING.search(text[start : match.start()])
            and not re.match(rf"(?:{_TASK_VERBS})\b", text[match.end() :], re.I)
        ):
            continue  # "sort by region, then revenue": one ordering, not two tasks
        pieces.append(text[start : match.start()])
        start = match.end()
    pieces.append(text[start:])
    cleaned = [_LEADING.sub("", p.strip(" ,.:")) for p in pieces]
    return [p for p in cleaned if p.strip(" ,.:")]


_LEADING = re.compile(r"^(?:(?:and|then|also|next|finally|afterwards|lastly)\b[\s,]*)+", re.I)
