"""A clause read against one table: its tokens grouped into units — a column named, a value
of a column, a number, a date, an operator, a word — each covering a span of tokens.

The parser matches its patterns over units and records in the ledger which units each slot of
the query took; the units left over decide whether the request refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache
from typing import Any, Literal

from pyexec.worker.agent.planner.columns import Mention, ambiguous, find_mentions, stem
from pyexec.worker.agent.planner.lexer import Token
from pyexec.worker.agent.planner.tables import Table
from pyexec.worker.agent.planner.words import FILLER

UnitKind = Literal["col", "val", "num", "date", "op", "word", "quoted", "punct", "file"]


@dataclass
class Unit:
    kind: UnitKind
    text: str  # as written
    word: str = ""  # lower-case word (typos of the planner's own words corrected)
    column: str | None = None  # col, val: the column
    value: Any = None  # val: the value as held; num: float; date: ISO text
    score: float = 1.0  # col: how surely the words name the column
    percent: bool = False
    candidates: tuple[tuple[str, Any], ...] = ()  # val: every (column, value) it could be
    others: tuple[str, ...] = ()  # col: columns the words name as well (ambiguous)
    weak: bool = False  # val: a common word that is a value only where a column is named

    def is_word(self, *options: str) -> bool:
        return self.kind == "word" and (not options or self.word in options)


def _value_index(table: Table) -> dict[str, list[tuple[str, Any]]]:
    index: dict[str, list[tuple[str, Any]]] = {}
    for column in table.columns:
        if column in table.duplicated:
            continue
        for value in table.text_values(column):
            key = " ".join(str(value).lower().split())
            if not key:
                continue
            for form in {key, stem(key)}:
                index.setdefault(form, []).append((column, value))
    return index


def build_units(toks: list[Token], table: Table, keywords: frozenset[str]) -> list[Unit]:
    words = [t.word if t.kind == "word" else "" for t in toks]
    quoted = frozenset(i for i, t in enumerate(toks) if t.kind == "quoted")
    for i in quoted:
        words[i] = toks[i].text.lower()
    columns = [c for c in table.columns if c not in table.duplicated] + sorted(table.duplicated)
    mentions = {m.start: m for m in find_mentions(words, columns, quoted)}
    values = _value_index(table)
    named = {m.column for m in mentions.values()}
    units: list[Unit] = []
    i = 0
    while i < len(toks):
        mention = mentions.get(i)
        value = _value_at(toks, words, i, values, mentions)
        if value is not None and (mention is None or mention.loose or toks[i].kind == "quoted"):
            end, found = value
            units.append(_value_unit(toks, i, end, found, named))
            i = end
            continue
        if mention is not None:
            units.append(_column_unit(toks, words, columns, mention))
            i = mention.end
            continue
        units.append(_plain_unit(toks[i], keywords))
        i += 1
    return units


def _value_at(
    toks: list[Token],
    words: list[str],
    i: int,
    values: dict[str, list[tuple[str, Any]]],
    mentions: dict[int, Mention],
) -> tuple[int, list[tuple[str, Any]]] | None:
    if toks[i].kind == "quoted":
        key = " ".join(toks[i].text.lower().split())
        found = values.get(key)
        return (i + 1, found) if found else None
    for size in (4, 3, 2, 1):
        span = words[i : i + size]
        if len(span) < size or not all(span):
            continue
        if any(j in mentions and mentions[j].start != i for j in range(i + 1, i + size)):
            continue
        key = " ".join(span)
        found = values.get(key) or values.get(stem(key))
        if found:
            return i + size, found
        if size == 1:
            found = _adjective(key, values)
            if found:
                return i + 1, found
    return None


def _adjective(word: str, values: dict[str, list[tuple[str, Any]]]) -> list[tuple[str, Any]]:
    """"rainy" → rain, "sunny" → sun, "european" → Europe, "japanese" → Japan."""
    if len(word) < 4:
        return []
    candidates = []
    if word.endswith("y"):
        candidates += [word[:-1], word[:-2]] if len(word) > 4 and word[-2] == word[-3] else [
            word[:-1]]
    for suffix in ("ean", "ese", "ian", "an", "ish", "n"):
        if word.endswith(suffix):
            candidates.append(word[: -len(suffix)])
    for candidate in candidates:
        if len(candidate) >= 3 and candidate in values:
            return values[candidate]
    # "european" → "europe": the value is the word without its adjective ending
    for key, found in values.items():
        if len(key) >= 4 and word.startswith(key) and len(word) - len(key) <= 3 and word[
            len(key):] in ("an", "ean", "ese", "ian", "n", "y", "ny", "ish", "gy"):
            return found
    return []


def _value_unit(
    toks: list[Token], i: int, end: int, found: list[tuple[str, Any]], named: set[str]
) -> Unit:
    text = " ".join(t.text for t in toks[i:end])
    preferred = [f for f in found if f[0] in named] or found
    column, value = preferred[0]
    word = text.lower()
    weak = toks[i].kind != "quoted" and (word in FILLER or len(word) <= 2)
    return Unit(
        "val",
        text,
        word=word,
        column=column,
        value=value,
        candidates=tuple(dict.fromkeys(preferred)),
        weak=weak,
    )


def _column_unit(toks: list[Token], words: list[str], columns: list[str], m: Mention) -> Unit:
    text = " ".join(t.text for t in toks[m.start : m.end])
    others = tuple(ambiguous(words, columns, m))
    return Unit("col", text, word=m.said, column=m.column, score=m.score, others=others)


def _plain_unit(token: Token, keywords: frozenset[str]) -> Unit:
    if token.kind == "word":
        return Unit("word", token.text, word=_corrected(token.word, keywords))
    if token.kind == "number":
        return Unit("num", token.text, value=token.value, percent=token.percent)
    if token.kind == "date":
        return Unit("date", token.text, value=token.value)
    if token.kind == "op":
        return Unit("op", token.text, word=str(token.value))
    if token.kind == "quoted":
        return Unit("quoted", token.text, word=token.text.lower(), value=token.text)
    if token.kind == "file":
        return Unit("file", token.text, word=token.text.lower())
    return Unit("punct", token.text, word=token.text)


@cache
def _corrected(word: str, keywords: frozenset[str]) -> str:
    """A typo of one of the planner's own longer words ("corelation", "avergae") read as that
    word. Short words are never corrected: "county" is not a typo of "count"."""
    if word in keywords or word in FILLER or len(word) < 7:
        return word
    best, best_ratio = word, 0.0
    for keyword in keywords:
        if len(keyword) < 7 or abs(len(keyword) - len(word)) > 2 or keyword[0] != word[0]:
            continue
        ratio = SequenceMatcher(None, word, keyword).ratio()
        if ratio > best_ratio:
            best, best_ratio = keyword, ratio
    return best if best_ratio >= 0.85 else word
