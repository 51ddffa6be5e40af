"""Reading a request: clauses, then lexemes (words, numbers, dates, quoted text, operators).

The planner matches its rules against a *template* of each clause: lower-case words, numbers
written plainly, `@0`, `@1`, … for the columns it mentions and `$0`, `$1`, … for quoted
values, so that a rule reads like the request it stands for (`top (\\d+) rows by @(\\d+)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

LexemeKind = Literal["word", "number", "date", "quoted", "op", "file"]

_FILE_SUFFIXES = r"csv|tsv|tab|txt|xlsx|xlsm|xls|parquet|pq|json|jsonl|ndjson"
_LEXEME = re.compile(
    r"""
      "(?P<dq>[^"]*)" | \u201c(?P<cq>[^\u201d]*)\u201d | `(?P<bq>[^`]*)`
    | \u2018(?P<sq2>[^\u2019]*)\u2019
    | (?<![\w'])'(?P<sq>[^']+)'(?![\w])
    | (?P<file>[\w\-]+(?:\.[\w\-]+)*\.(?:"""
    + _FILE_SUFFIXES
    + r""")(?:\.(?:gz|bz2|xz|zip|zst))?)\b
    | (?P<date>\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?|\d{4}/\d{1,2}/\d{1,2})
    | (?P<number>(?<![\w.])[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[kKmM](?![A-Za-z]))?%?)
      (?:st|nd|rd|th)?(?![A-Za-z])  # "90th" is the number 90
    | (?P<op>>=|<=|!=|==|=>|=<|<>|≥|≤|≠|[<>=])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:'[st])?)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Lexeme:
    kind: LexemeKind
    text: str  # as the request wrote it (quotes removed)
    value: float | str | None = None  # numbers as float, dates as ISO text


def _number(raw: str) -> float:
    text = raw.replace("$", "").replace(",", "").rstrip("%")
    scale = 1.0
    if text[-1:] in "kK":
        text, scale = text[:-1], 1_000.0
    elif text[-1:] in "mM":
        text, scale = text[:-1], 1_000_000.0
    return float(text) * scale


def _iso_date(raw: str) -> str:
    parts = re.split(r"[-/ T]", raw)
    year, month, day = parts[0], parts[1].zfill(2), parts[2].zfill(2)
    rest = raw[len(raw.split(" ")[0].split("T")[0]) :].strip(" T")
    return f"{year}-{month}-{day}" + (f" {rest}" if rest else "")


def lex(text: str) -> list[Lexeme]:
    lexemes: list[Lexeme] = []
    for match in _LEXEME.finditer(text):
        kind = match.lastgroup
        raw = match.group(kind or 0)
        if kind in ("dq", "cq", "bq", "sq", "sq2"):
            if raw.strip():
                lexemes.append(Lexeme("quoted", raw.strip()))
        elif kind == "file":
            lexemes.append(Lexeme("file", raw))
        elif kind == "date":
            lexemes.append(Lexeme("date", raw, _iso_date(raw)))
        elif kind == "number":
            lexemes.append(Lexeme("number", raw, _number(raw)))
        elif kind == "op":
            lexemes.append(Lexeme("op", raw, _OPS.get(raw, raw)))
        elif kind == "word":
            lexemes.append(Lexeme("word", raw.removesuffix("'s").removesuffix("'t")))
    return lexemes


_OPS = {"=>": ">=", "=<": "<=", "<>": "!=", "≥": ">=", "≤": "<=", "≠": "!=", "==": "="}

# Where one request holds several tasks: sentences, semicolons, lines, "then", and an "and"
# followed by a verb ("… and plot …"). A plain "and" joins words of one task ("mean and std").
_VERBS = (
    r"show|list|display|return|give|plot|draw|make|create|compute|calculate|find|count|sort|"
    r"order|filter|get|tell|print|visuali[sz]e|chart|graph|summari[sz]e|describe|what|which|"
    r"how|rank|check|report|produce|generate|output|identify|determine"
)
_CLAUSE_BREAK = re.compile(
    r"\s*(?:[;\n]+|(?<=[A-Za-z0-9)\]\"'`])[.!?](?:\s+|$)|,?\s+(?:and\s+)?then\s+|,?\s+and\s+also\s+"
    r"|,?\s+and\s+(?=(?:" + _VERBS + r")\b)|,\s+(?=(?:" + _VERBS + r")\b))\s*",
    re.IGNORECASE,
)


def split_clauses(text: str) -> list[str]:
    """The request's separate tasks, in order. Quoted text is never split."""
    quoted = list(re.finditer(r"\"[^\"]*\"|`[^`]*`|“[^”]*”", text))
    pieces: list[str] = []
    start = 0
    for match in _CLAUSE_BREAK.finditer(text):
        if any(q.start() < match.start() < q.end() for q in quoted):
            continue
        if (
            re.search(r"\bthen\b", match[0], re.I)
            and _SORTING.search(text[start : match.start()])
            and not re.match(rf"(?:{_VERBS})\b", text[match.end() :], re.I)
        ):
            continue  # "sort by region, then revenue": one ordering, not two tasks
        pieces.append(text[start : match.start()])
        start = match.end()
    pieces.append(text[start:])
    pieces = [_LEADING_JOINER.sub("", p.strip(" ,.")) for p in pieces]
    return [p for p in pieces if p]


_SORTING = re.compile(r"\b(?:sort|sorted|order|ordered|arrange|arranged|rank|ranked)\b", re.I)
_LEADING_JOINER = re.compile(r"^(?:(?:and|then|also|next|finally|afterwards)\b[\s,]*)+", re.I)


_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "fifty": 50,
    "hundred": 100,
    "dozen": 12,
}

# Rewritten before the rules run, so each rule lists one spelling. Order matters.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\b(?:standard deviations?|std\.? ?devs?|stdev|stddev|sd)\b", "std"),
        (r"\b(?:avg|averages?|means)\b", "average"),
        (r"\bmean\b", "average"),
        (r"\b(?:versus|vs|against|v)\b", "vs"),
        (r"\bover (?:time|the period|the years|the months|the days)\b", "over_time"),
        (r"\b(?:across|through) time\b", "over_time"),
        (r"\btime ?series\b", "over_time"),
        # Orders in words, before "a" (as in "z to a") is dropped with the articles.
        (
            r"\b(?:from )?(?:high(?:est)?|large(?:st)?|big(?:gest)?|most|newest|latest|z) "
            r"(?:to|-) (?:low(?:est)?|small(?:est)?|least|oldest|earliest|a)\b",
            "descending",
        ),
        (
            r"\b(?:from )?(?:low(?:est)?|small(?:est)?|least|oldest|earliest|a) "
            r"(?:to|-) (?:high(?:est)?|large(?:st)?|big(?:gest)?|most|newest|latest|z)\b",
            "ascending",
        ),
        (r"\b(?:largest|highest|biggest|newest|latest|most recent) first\b", "descending"),
        (r"\b(?:smallest|lowest|oldest|earliest) first\b", "ascending"),
        (r"\b(?:the|a|an)\b", " "),
        (r"\b(?:column|field|variable|attribute|feature)s? (@\d+)", r"\1"),
        (r"(@\d+) (?:column|field|variable|attribute|feature)s?\b", r"\1"),
        (r"\b(?:col|cols)\b", "columns"),
        (r"\b(?:visuali[sz]e|visuali[sz]ation|diagram|figure)\b", "plot"),
        (r"\b(?:graph|chart)\b", "plot"),
        (r"\bplot plot\b", "plot"),
        (r"\bbar ?plot\b", "bar plot"),
        (r"\bhistograms?\b|\bhist\b", "histogram"),
        (r"\bscatter ?plot\b", "scatter plot"),
        (r"\bline ?plot\b", "line plot"),
        (r"\bnulls?\b|\bnans?\b|\bna\b|\bn/a\b|\bnone\b", "missing"),
        (r"\bdescriptive stat(?:istic)?s\b|\bsummary stat(?:istic)?s\b|\bstats\b", "statistics"),
        (r"\bvalue_counts\b", "value counts"),
        (r"\bdata ?types?\b|\bdtypes?\b", "dtypes"),
    )
)


def rewrite(template: str) -> str:
    text = " " + template + " "
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    words = [str(_NUMBER_WORDS.get(w, w)) for w in text.split()]
    return " ".join(words)
