"""Loose matching of the words of a request onto a table's column names.

"revenue" finds `Revenue` and `total_revenue`, "unit price" finds `UnitPrice`, "temp" finds
`temperature`, "revnue" finds `revenue`. Scores are in [0, 1]; 1 is an exact match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

MIN_SCORE = 0.55

# Words that say what to do rather than which column: alone they never name a column (a column
# literally called "count" is still found when the request quotes it or names it exactly in a
# longer phrase). Kept small on purpose: every word here is one a column can no longer be called.
STOPWORDS = frozenset(
    """
    a about above across after against all along also among an analyse analyze and any are as
    ascending asc at average avg bar based be below between biggest bin bins both bottom by
    calculate can chart column columns compare compute correlation correlations corr count
    counts csv data dataset descending desc describe display distinct distribution do does draw
    each entries entry every file files filter find first for frequency from get give graph
    greatest group grouped has have head highest histogram how i in is it its largest last least
    line list look lowest many max maximum me mean median min minimum missing more most n number
    numeric of on or order ordered over per plot please preview print rank ranked records record
    return row rows sample scatter show shown smallest sort sorted standard statistic statistics
    stats std stdev sum summary table tail than that the their them then there these this those
    to top total trend unique value values variance versus vs want we what where which with
    within you your
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

_SYNONYMS = {
    "qty": "quantity",
    "quantity": "qty",
    "amt": "amount",
    "amount": "amt",
    "temp": "temperature",
    "pct": "percent",
    "percent": "pct",
    "num": "number",
}

# Calendar words name a column only whole: "month" is a period, not a prefix of `monthly_fee`.
_WHOLE_WORDS_ONLY = frozenset({"day", "week", "month", "quarter", "year", "hour", "minute"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_WORD = re.compile(r"[a-z0-9_]*[a-z][a-z0-9_]*")


def words(name: str) -> tuple[str, ...]:
    """`TotalRevenue`, `total_revenue`, "Total revenue" → ("total", "revenue")."""
    spaced = _CAMEL.sub(" ", name)
    return tuple(w.lower() for w in _NON_WORD.split(spaced) if w)


def stem(word: str) -> str:
    """Plural to singular, enough for column names: "categories" → "category", "units" → "unit"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _word_score(said: str, column_word: str) -> float:
    if said == column_word or stem(said) == stem(column_word):
        return 1.0
    if _SYNONYMS.get(said) == column_word or _SYNONYMS.get(column_word) == said:
        return 0.8
    if len(said) >= 3 and column_word.startswith(said) and said not in _WHOLE_WORDS_ONLY:
        return 0.75  # "temp" → "temperature", "hum" → "humidity"
    if len(said) >= 5 and len(column_word) >= 5:
        ratio = SequenceMatcher(None, said, column_word).ratio()
        if ratio >= 0.85:
            return 0.8 * ratio  # a typo: "revnue" → "revenue"
    return 0.0


def phrase_score(said: tuple[str, ...], column: tuple[str, ...]) -> float:
    """How well the words `said` name a column whose name has the words `column`."""
    if not said or not column:
        return 0.0
    if tuple(map(stem, said)) == tuple(map(stem, column)) or "".join(said) == "".join(column):
        return 1.0
    extra = len(column) - len(said)
    if extra < 0:
        return 0.0  # "mean revenue" does not name `revenue`; the word "revenue" alone does
    total = 0.0
    free = list(column)
    for word in said:
        best, best_i = 0.0, -1
        for i, candidate in enumerate(free):
            score = _word_score(word, candidate)
            if score > best:
                best, best_i = score, i
        if best == 0.0:
            return 0.0
        total += best
        free.pop(best_i)
    # Every word said was found; each word of the column left unsaid costs a little, so that
    # "revenue" prefers `revenue` to `total_revenue`, and both to `revenue_per_unit_estimate`.
    return max(0.0, total / len(said) * 0.9 - 0.05 * extra) if extra else total / len(said)


@dataclass(frozen=True)
class Mention:
    """A column named in the request: words `start`..`end` (exclusive) of the tokens."""

    column: str
    start: int
    end: int
    score: float
    said: str  # the words as the request wrote them

    @property
    def exact(self) -> bool:
        return self.score >= 1.0


def best_column(phrase: str, columns: list[str]) -> tuple[str, float] | None:
    """The column `phrase` names best, if any names it well enough."""
    said = words(phrase)
    scored = [(phrase_score(said, words(c)), -i, c) for i, c in enumerate(columns)]
    score, _, column = max(scored, default=(0.0, 0, ""))
    return (column, score) if score >= MIN_SCORE else None


def find_mentions(
    tokens: list[str], columns: list[str], quoted: frozenset[int] = frozenset()
) -> list[Mention]:
    """Non-overlapping column mentions in `tokens` (lower-case words), in order of position.

    Longer and better matches win: "unit price" is `unit_price`, not `units` and a stray "price".
    Tokens in `quoted` were quoted or back-ticked in the request, so even a stopword there can
    name a column exactly.
    """
    column_words = [(c, words(c)) for c in columns]
    longest = max((len(w) for _, w in column_words), default=1)
    candidates: list[tuple[float, int, int, int, str]] = []
    for size in range(min(longest, 4), 0, -1):
        for start in range(len(tokens) - size + 1):
            said = tuple(tokens[start : start + size])
            if not all(_WORD.fullmatch(w) for w in said):
                continue  # numbers, operators and placeholders never name a column
            in_quotes = all(i in quoted for i in range(start, start + size))
            for order, (column, cwords) in enumerate(column_words):
                score = phrase_score(said, cwords)
                if score < MIN_SCORE:
                    continue
                if (
                    score < 1.0
                    and not in_quotes
                    and (said[0] in STOPWORDS or said[-1] in STOPWORDS)
                ):
                    continue
                if score >= 1.0 and size == 1 and said[0] in STOPWORDS and not in_quotes:
                    # "count" names a column called `count` only when nothing else could
                    # explain the word; the parser treats such a word as an instruction.
                    continue
                candidates.append((score, size, -start, -order, column))
    taken: set[int] = set()
    chosen: list[Mention] = []
    for score, size, neg_start, _, column in sorted(candidates, reverse=True):
        start = -neg_start
        span = set(range(start, start + size))
        if span & taken:
            continue
        taken |= span
        chosen.append(
            Mention(column, start, start + size, score, " ".join(tokens[start : start + size]))
        )
    return sorted(chosen, key=lambda m: m.start)
