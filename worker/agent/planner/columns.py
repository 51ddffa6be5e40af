"""Matching the words of a request onto a table's column names, with a confidence.

"revenue" finds `Revenue`, "unit price" finds `UnitPrice`, "population" finds `pop`, "temp"
finds `temperature`, "miles per gallon" finds `mpg`, "revnue" finds `revenue`. Scores are in
[0, 1]; 1 is an exact match. Below `MIN_SCORE` a word names no column: it is left for the
ledger (and refused) rather than handed to the nearest column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

MIN_SCORE = 0.66

# Words that say what to do rather than which column: alone they never name a column unless
# the request quotes them (a column literally called `count` is found as "`count`").
STOPWORDS = frozenset(
    """
    a about above across after against all along also among an and any are as ascending asc at
    average avg based be below between biggest both bottom by calculate can column columns
    compare compute correlation correlations corr count counts csv data dataset descending desc
    describe display distinct distribution do does each every file find first for frequency
    from get give greatest group grouped has have highest how i if in is it its largest last
    least list lowest many max maximum me mean median min minimum missing more most number of
    on or order ordered over per please print rank ranked records record row rows show
    smallest sort sorted standard statistic statistics stats std stdev sum summary table than
    that the their them then there these this those to top total unique variance versus vs
    what where which with within you your test mode range percent percentage proportion ratio
    difference outlier outliers regression rate deviation
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

# Common short forms of column names, both ways.
_SYNONYMS: dict[str, frozenset[str]] = {
    key: frozenset(values.split())
    for key, values in {
        "quantity": "qty",
        "amount": "amt",
        "temperature": "temp tmp",
        "percent": "pct perc",
        "percentage": "pct perc",
        "number": "num no nr",
        "year": "yr",
        "weight": "wt",
        "height": "ht",
        "horsepower": "hp",
        "cylinder": "cyl",
        "displacement": "disp displ",
        "acceleration": "accel acc",
        "population": "pop",
        "precipitation": "precip prcp",
        "humidity": "hum",
        "government": "gov govt",
        "unemployment": "unemp",
        "inflation": "infl",
        "consumption": "cons",
        "investment": "inv invest",
        "education": "educ edu",
        "experience": "exp exper",
        "occupation": "occ occup",
        "gender": "sex",
        "sex": "gender",
        "price": "cost",
        "identifier": "id",
        "average": "avg mean",
        "maximum": "max",
        "minimum": "min",
        "children": "kids child",
        "kid": "child children",
        "religiousness": "relig",
        "rating": "rate",
        "income": "inc",
        "dollar": "usd",
        "passenger": "pax",
        "religious": "relig",
        "employment": "emp empl",
        "employee": "emp empl",
        "department": "dept",
        "customer": "cust",
        "product": "prod",
        "category": "cat",
        "description": "desc",
        "address": "addr",
        "latitude": "lat",
        "longitude": "lon lng long",
        "altitude": "alt",
        "distance": "dist",
        "duration": "dur",
        "frequency": "freq",
        "volume": "vol",
        "length": "len",
        "position": "pos",
        "minute": "min",
        "second": "sec",
        "hour": "hr",
        "month": "mo mon",
        "week": "wk",

        "count": "cnt",
        "total": "tot",
        "value": "val",
        "unemployed": "unemp",
    }.items()
}
# Calendar words name a column only whole: "month" is a period, not a prefix of `monthly_fee`.
_WHOLE_WORDS_ONLY = frozenset({"day", "week", "month", "quarter", "year", "hour", "minute"})
# A column word that changes what the column is: "passengers" is not `PassengerId`, "price" is
# not `price_rank`. Such a word must be said for the column to match.
_QUALIFIERS = frozenset(
    """
    id ids code no num nr number index idx rank flag key lag log ratio
    change diff delta cum zscore z std min max avg mean sum count rate per
    """.split()  # noqa: SIM905
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_WORD = re.compile(r"[a-z0-9_]*[a-z][a-z0-9_\-]*")


@cache
def words(name: str) -> tuple[str, ...]:
    """`TotalRevenue`, `total_revenue`, "Total revenue" → ("total", "revenue")."""
    spaced = _CAMEL.sub(" ", name)
    return tuple(w.lower() for w in _NON_WORD.split(spaced) if w)


def stem(word: str) -> str:
    """Plural to singular, enough for names: "categories" → "category", "units" → "unit"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _synonyms(a: str, b: str) -> bool:
    a, b = stem(a), stem(b)
    return b in _SYNONYMS.get(a, frozenset()) or a in _SYNONYMS.get(b, frozenset())


def _word_score(said: str, column_word: str) -> float:
    if said == column_word or stem(said) == stem(column_word):
        return 1.0
    if _synonyms(said, column_word):
        return 0.85
    if said in _WHOLE_WORDS_ONLY or column_word in _WHOLE_WORDS_ONLY:
        return 0.0
    if len(said) >= 4 and column_word.startswith(said) and not column_word[len(said) :].isdigit():
        return 0.75  # "temp" → "temperature", "humid" → "humidity"
    # No guessing beyond this: "county" is not a typo of `country`, nor "salesperson" `sales`.
    return 0.0


@cache
def phrase_score(said: tuple[str, ...], column: tuple[str, ...]) -> float:
    """How well the words `said` name a column whose name has the words `column`."""
    if not said or not column:
        return 0.0
    if tuple(map(stem, said)) == tuple(map(stem, column)) or "".join(said) == "".join(column):
        return 1.0
    if len(said) >= 2 and len(column) == 1 and "".join(w[0] for w in said) == column[0]:
        return 0.9  # "miles per gallon" → `mpg`
    if len(said) == 1 and len(column) >= 2 and len(said[0]) >= 2 and (
        "".join(w[0] for w in column) == said[0]
    ):
        return 0.9  # "mpg" → `Miles_per_Gallon`
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
    if any(w in _QUALIFIERS or w.isdigit() for w in free):
        return 0.0  # the unsaid word would change the column's meaning
    # Each column word left unsaid costs a little: "revenue" prefers `revenue` to
    # `total_revenue`, and both to `revenue_per_unit_estimate`.
    return max(0.0, total / len(said) * 0.9 - 0.08 * extra) if extra else total / len(said)


@dataclass(frozen=True)
class Mention:
    """A column named in the request: tokens `start`..`end` (exclusive)."""

    column: str
    start: int
    end: int
    score: float
    said: str  # the words as the request wrote them

    @property
    def loose(self) -> bool:
        return self.score < 1.0


def find_mentions(
    tokens: list[str], columns: list[str], quoted: frozenset[int] = frozenset()
) -> list[Mention]:
    """Non-overlapping column mentions in `tokens` (lower-case words, "" for non-words).

    Longer and better matches win: "unit price" is `unit_price`, not `units` and a stray
    "price". Tokens in `quoted` were quoted in the request: there even a stopword can name a
    column, and a quoted text that is exactly a column's name is that column.
    """
    column_words = [(c, words(c)) for c in columns]
    longest = max((len(w) for _, w in column_words), default=1)
    candidates: list[tuple[float, int, int, int, str]] = []
    for i in quoted:
        for order, (column, _) in enumerate(column_words):
            if tokens[i] == column.lower():
                candidates.append((2.0, 1, -i, -order, column))
    for size in range(max(min(longest + 1, 4), 3), 0, -1):  # 3 for "miles per gallon"
        for start in range(len(tokens) - size + 1):
            if any(i in quoted for i in range(start, start + size)):
                continue
            raw = tuple(tokens[start : start + size])
            if not all(_WORD.fullmatch(w) for w in raw):
                continue  # numbers, operators and quoted values never name a column
            said = tuple(w for token in raw for w in words(token))  # "hs_grad" → hs, grad
            for order, (column, cwords) in enumerate(column_words):
                score = phrase_score(said, cwords)
                if score < MIN_SCORE:
                    continue
                edges = [w for w in (raw[0], raw[-1]) if w in STOPWORDS]
                if edges:
                    if size == 1:
                        continue  # "count" alone is an instruction, unless quoted
                    exact = "_".join(raw) == column.lower() or " ".join(raw) == column.lower()
                    # "min temperature" names `temp_min`: the column's own name has "min".
                    own = all(stem(w) in map(stem, cwords) for w in edges)
                    if not (exact or own):
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
        text = " ".join(tokens[start : start + size])
        chosen.append(Mention(column, start, start + size, min(score, 1.0), text))
    return sorted(chosen, key=lambda m: m.start)


def ambiguous(tokens: list[str], columns: list[str], mention: Mention) -> list[str]:
    """Other columns the same words name as well as `mention` does (a loose match only)."""
    if not mention.loose:
        return []
    said = tuple(tokens[mention.start : mention.end])
    return [
        c
        for c in columns
        if c != mention.column and phrase_score(said, words(c)) >= mention.score - 1e-9
    ]
