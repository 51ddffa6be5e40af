"""One clause → one `Query`, or a refusal naming the part that cannot be done.

The clause is read as units (columns, values, numbers, words: `units.py`). Recognisers take
units into the query's slots — presentation, significance level, filters, groups, derived
columns, order and limit, the measure — in that order, each recording what it took in the
ledger. Column mentions left over are the measure's targets. Any other unit left over that
is not filler refuses the request, naming its words: a condition the parser cannot read is
never dropped.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from pyexec.worker.agent.model import ModelError
from pyexec.worker.agent.planner.columns import stem
from pyexec.worker.agent.planner.lexer import Token
from pyexec.worker.agent.planner.query import (
    AggRef,
    Cond,
    CondOp,
    Expr,
    Group,
    Measure,
    Prep,
    Query,
)
from pyexec.worker.agent.planner.tables import Table
from pyexec.worker.agent.planner.units import Unit, build_units
from pyexec.worker.agent.planner.words import FILLER, INTRO, PRESENTATION, ROW_NOUNS, UNITS


class PlanError(ModelError):
    """The request cannot be answered exactly; the message names the part and what would work."""


class Refusal(Exception):
    """A part of one clause that changes numbers and cannot be done (before the table is chosen)."""

    def __init__(self, message: str, weight: int = 1) -> None:
        super().__init__(message)
        self.weight = weight


# --- phrases ------------------------------------------------------------------------------


def _phrases(*texts: str) -> tuple[tuple[str, ...], ...]:
    out = [tuple(t.split()) for t in texts]
    return tuple(sorted(out, key=len, reverse=True))


AGG_WORDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "mode": _phrases("mode", "most common", "most frequent", "most frequently occurring",
                     "most popular", "most often", "commonest", "modal"),
    "mean": _phrases("mean", "average", "avg", "arithmetic mean", "averages", "means", "typical"),
    "median": _phrases("median", "medians", "middle value"),
    "sum": _phrases("sum", "total", "sums", "totals", "sum total", "combined", "cumulative"),
    "min": _phrases("min", "minimum", "lowest", "smallest", "least", "fewest", "earliest",
                    "minimal", "minimum value", "shortest", "cheapest", "lightest", "worst"),
    "max": _phrases("max", "maximum", "highest", "largest", "biggest", "greatest", "most",
                    "latest", "peak", "maximal", "longest", "heaviest", "best", "top"),
    "std": _phrases("std", "standard deviation", "standard deviations", "sd", "stdev", "stddev",
                    "std dev", "spread"),
    "var": _phrases("variance", "var", "variances"),
    "range": _phrases("range"),
    "iqr": _phrases("iqr", "interquartile range", "inter-quartile range", "inter quartile range"),
    "nunique": _phrases("unique", "distinct", "different"),
    "skew": _phrases("skewness", "skew"),
    "kurt": _phrases("kurtosis"),
    "count": _phrases("count", "how many", "number of", "total number of", "counts"),
    "cv": _phrases("coefficient of variation"),
}
_QUARTILES = {
    ("first", "quartile"): 0.25, ("lower", "quartile"): 0.25, ("q1",): 0.25,
    ("third", "quartile"): 0.75, ("upper", "quartile"): 0.75, ("q3",): 0.75,
    ("second", "quartile"): 0.5, ("q2",): 0.5,
}  # fmt: skip
OPS: list[tuple[tuple[str, ...], str]] = [
    (p, op)
    for op, texts in (
        (">=", ("greater than or equal to", "more than or equal to", "at least", "no less than",
                "not less than", "on or after", "or more", "or above", "or higher", "and above",
                "and up", "greater or equal to", ">=", "minimum of")),
        ("<=", ("less than or equal to", "at most", "no more than", "not more than", "up to",
                "on or before", "or less", "or below", "or fewer", "or lower", "and below",
                "and under", "less or equal to", "<=", "maximum of", "not exceeding")),
        ("!=", ("is not", "are not", "was not", "were not", "not equal to", "does not equal",
                "other than", "!=", "except", "excluding", "not")),
        (">", ("greater than", "more than", "higher than", "larger than", "bigger than", "above",
               "over", "exceeds", "exceeding", "exceed", "after", "later than", "newer than",
               "older than", "longer than", "heavier than", "in excess of", ">", "beyond",
               "surpassing", "surpasses")),
        ("<", ("less than", "lower than", "smaller than", "fewer than", "below", "under",
               "before", "earlier than", "younger than", "shorter than", "lighter than",
               "cheaper than", "<", "beneath")),
        ("==", ("is equal to", "are equal to", "equal to", "equals", "equal", "is", "are", "was",
                "were", "=", "of exactly", "exactly", "being")),
        ("contains", ("contains", "containing", "contain", "includes", "including", "mentions",
                      "mentioning")),
    )
    for p in _phrases(*texts)
]
_GROUP_INTRO = _phrases(
    "for each", "for every", "per", "by", "in each", "within each", "across", "grouped by",
    "group by", "groupby", "broken down by", "break down by", "split by", "separately for",
    "for all", "of each", "among", "across all", "across the", "by each", "for the different",
    "across different", "between", "according to", "in every", "among the", "across each",
    "for different", "depending on", "based on",
)
_PERIODS = {
    "Y": ("yearly", "annual", "annually", "per year", "by year", "each year", "every year",
          "year by year", "year over year", "per annum", "for each year", "in each year"),
    "Q": ("quarterly", "per quarter", "by quarter", "each quarter", "for each quarter"),
    "M": ("monthly", "per month", "by month", "each month", "every month", "month by month",
          "for each month", "in each month"),
    "W": ("weekly", "per week", "by week", "each week", "every week", "for each week"),
    "D": ("daily", "per day", "by day", "each day", "every day", "day by day", "for each day"),
    "weekday": ("per weekday", "by weekday", "each weekday", "by day of week",
                "per day of the week", "by day of the week", "for each day of the week",
                "each day of the week"),
    "hour": ("hourly", "per hour", "by hour", "each hour", "for each hour"),
}  # fmt: skip
_NOTES = _phrases(
    "interpret", "interpret the results", "interpret the result", "interpret the findings",
    "explain", "explain the results", "explain why", "comment on", "discuss", "what does this",
    "what does it mean", "what do the results", "provide insights", "give insights",
    "draw conclusions", "conclusion", "insights", "implications", "interpretation",
    "what it means", "what this means", "briefly explain", "describe the relationship",
)

TEST_WORDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "normality": _phrases(
        "normally distributed", "normal distribution", "normality", "normality test",
        "test for normality", "shapiro", "shapiro-wilk", "shapiro wilk", "shapiro-wilk test",
        "dagostino", "dagostino-pearson", "dagostino pearson", "normaltest", "gaussian",
        "follow a normal distribution", "follows a normal distribution", "normal",
        "bell-shaped", "bell shaped", "normally", "distributed normally",
    ),
    "ttest": _phrases(
        "t-test", "t test", "ttest", "students t-test", "student t-test", "welch", "welchs",
        "two-sample t-test", "independent t-test", "independent samples t-test",
        "paired t-test", "paired", "t-statistic", "t statistic", "two sample t-test",
        "independent two-sample t-test", "students t test",
    ),
    "chi2": _phrases(
        "chi-square", "chi-squared", "chi square", "chi squared", "chi2", "chisquare",
        "test of independence", "chi-square test", "contingency",
    ),
    "anova": _phrases(
        "anova", "analysis of variance", "one-way anova", "one way anova", "f-test", "f test",
        "one-way", "f-statistic", "f statistic",
    ),
    "correlation": _phrases(
        "correlation", "correlations", "correlated", "correlate", "correlates", "corr",
        "correlation coefficient", "pearson", "spearman", "kendall", "pearsons", "spearmans",
        "kendalls", "relationship", "relationships", "association", "associated", "related",
        "linear relationship", "relate", "relates", "correlating", "pearson correlation",
        "rank correlation", "tau", "rho", "co-relation",
    ),
    "regression": _phrases(
        "linear regression", "regression", "regress", "regressing", "ols", "linear model",
        "line of best fit", "best fit line", "least squares", "ordinary least squares",
        "simple linear regression", "multiple linear regression", "multiple regression",
        "linear fit", "fit a line", "regression line", "regression model",
    ),
    "outliers": _phrases(
        "outlier", "outliers", "anomalies", "anomaly", "anomalous", "extreme values",
        "outlying", "outlier detection",
    ),
}
_SIGNIFICANT = _phrases(
    "significant", "significantly", "statistically significant", "significance",
    "statistically", "p-value", "p value", "pvalue", "p-values", "p values",
)
_UNSUPPORTED = _phrases(
    "predict", "prediction", "predictions", "forecast", "forecasting", "train", "training",
    "cluster", "clustering", "clusters", "k-means", "kmeans", "classify", "classification",
    "classifier", "logistic", "random forest", "decision tree", "neural", "machine learning",
    "cross-validation", "cross validation", "accuracy", "precision", "recall", "f1", "auc",
    "roc", "pca", "principal component", "arima", "smoothing", "moving average",
    "rolling", "kolmogorov", "kolmogorov-smirnov", "ks test", "anderson", "anderson-darling",
    "mann-whitney", "wilcoxon", "kruskal", "kruskal-wallis", "levene", "bartlett", "tukey",
    "post-hoc", "bootstrap", "confidence interval", "merge", "join", "pivot", "impute with",
    "interpolate", "interpolation", "normalize", "normalise", "standardize", "standardise",
    "scale", "scaling", "min-max", "one-hot", "encode", "encoding", "dummy", "dummies",
    "polynomial", "quadratic", "exponential", "lag", "lagged", "seasonal", "seasonality",
    "decompose", "trend line", "feature importance", "vif", "multicollinearity",
    "residuals", "residual", "power analysis", "effect size", "cohens", "odds ratio",
    "lasso", "ridge", "svm", "knn", "nearest neighbors", "fisher", "binomial", "poisson",
    "cumulative sum", "cumsum", "percent change", "pct change", "growth rate", "bin",
    "bins", "binned", "binning", "quintile", "quintiles", "decile", "deciles", "tercile",
    "categorize", "categorise", "bucket", "buckets", "weighted", "geometric mean",
    "harmonic mean", "trimmed", "winsorize", "entropy", "covariance", "cov",
)


# --- the parse ----------------------------------------------------------------------------


@dataclass
class Parse:
    table: Table
    units: list[Unit]
    used: list[str] = field(default_factory=list)
    filters: list[Cond] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    prep: list[Prep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    derived: list[tuple[int, Expr]] = field(default_factory=list)  # (unit index, expression)
    new_columns: list[tuple[str, Expr]] = field(default_factory=list)
    measure_words: list[tuple[int, str, str]] = field(default_factory=list)  # (i, kind, detail)
    alpha: float | None = None
    limit: int | None = None
    descending: bool | None = None
    threshold: float | None = None
    decimals: int | None = None
    sort_by: list[tuple[Expr, bool]] = field(default_factory=list)
    method: str | None = None
    quantiles: list[float] = field(default_factory=list)
    outcome: int | None = None  # regression: the unit index of the dependent variable
    predictors_from: int | None = None
    entity: tuple[int, str] | None = None  # extreme: (unit index, column)
    row_entity: bool = False  # "which row/record has …"
    when_entity: bool = False  # "when was … highest"
    exists: bool = False
    preview: str | None = None
    plot: str | None = None
    ambiguous: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.used = ["" for _ in self.units]

    # -- helpers --

    def free(self, i: int) -> bool:
        return 0 <= i < len(self.units) and not self.used[i]

    def word(self, i: int) -> str:
        if 0 <= i < len(self.units) and self.units[i].kind == "word":
            return self.units[i].word
        return ""

    def take(self, start: int, end: int, slot: str) -> None:
        for j in range(start, end):
            if not self.used[j]:
                self.used[j] = slot

    def phrase_at(self, i: int, phrases: Iterable[tuple[str, ...]], free: bool = True) -> int:
        """The end of the longest phrase of `phrases` at unit i (all words), else -1."""
        if not 0 <= i < len(self.units):
            return -1
        unit = self.units[i]
        first = unit.word if unit.kind in ("word", "op", "punct") else None
        if first is None:
            return -1
        index = _index(phrases if isinstance(phrases, tuple) else tuple(phrases))
        for phrase in index.get(first, ()) + (index.get("-", ()) if unit.text == "-" else ()):
            end = i + len(phrase)
            if end > len(self.units):
                continue
            if all(
                self.units[i + k].kind in ("word", "op", "punct")
                and (self.units[i + k].word == w or (w == "-" and self.units[i + k].text == "-"))
                and (not free or not self.used[i + k])
                for k, w in enumerate(phrase)
            ):
                return end
        return -1

    def find(self, phrases: Iterable[tuple[str, ...]]) -> list[tuple[int, int]]:
        phrases = phrases if isinstance(phrases, tuple) else tuple(phrases)
        out = []
        i = 0
        while i < len(self.units):
            end = self.phrase_at(i, phrases)
            if end > 0:
                out.append((i, end))
                i = end
            else:
                i += 1
        return out

    def col(self, i: int) -> str | None:
        if 0 <= i < len(self.units) and self.units[i].kind == "col":
            return self.units[i].column
        return None

    def skip_articles(self, i: int) -> int:
        while self.word(i) in ("the", "a", "an", "its", "their", "of") and self.free(i):
            i += 1
        return i

    def columns_left(self) -> list[int]:
        return [i for i, u in enumerate(self.units) if u.kind == "col" and not self.used[i]]


@cache
def _index(phrases: tuple[tuple[str, ...], ...]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Phrases by their first word, longest first: a lookup instead of a scan per unit."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for phrase in sorted(phrases, key=len, reverse=True):
        out.setdefault(phrase[0], []).append(phrase)
    return {k: tuple(v) for k, v in out.items()}


def parse_clause(toks: list[Token], table: Table, keywords: frozenset[str]) -> Query | None:
    """The query a clause asks for; None when it asks for nothing (filler only)."""
    units = build_units(toks, table, keywords)
    p = Parse(table, units)
    _notes(p)
    _unsupported(p)
    _alpha(p)
    _decimals(p)
    _tests(p)
    _regression_roles(p)
    _missing_and_prep(p)
    if any(kind in ("outliers", "drop_outliers") for _, kind, _ in p.measure_words):
        p.extras_rule = _outlier_rule(p)  # type: ignore[attr-defined]
    _new_columns(p)
    _derived(p)
    _limits_and_order(p)
    _extreme_entity(p)
    _filters(p)
    _groups(p)
    _aggregates(p)
    _other_measures(p)
    _binary_filters(p)
    _row_nouns(p)
    return _assemble(p)


# --- recognisers --------------------------------------------------------------------------


def _notes(p: Parse) -> None:
    for start, end in p.find(_NOTES):
        said = " ".join(u.text for u in p.units[start:end])
        p.notes.append(said)
        p.take(start, end, "note")
        # "interpret the results": the rest of such a phrase is about presenting, too.
        j = end
        while p.free(j) and p.word(j) in ("the", "results", "result", "findings", "it", "this",
                                            "them", "these", "what", "why", "how", "on"):
            p.take(j, j + 1, "note")
            j += 1


def _unsupported(p: Parse) -> None:
    for start, end in p.find(_UNSUPPORTED):
        said = " ".join(u.text for u in p.units[start:end])
        # "bins" of a histogram are a plot's detail, not a computation.
        if said.lower() in ("bin", "bins") and _has_word(p, "histogram", "hist", "histograms"):
            p.take(start, end, "plot")
            if start > 0 and p.units[start - 1].kind == "num":
                p.take(start - 1, start, "plot")
            continue
        raise Refusal(f"“{said}” is beyond the offline planner", weight=3)


def _has_word(p: Parse, *words: str) -> bool:
    return any(u.kind == "word" and u.word in words for u in p.units)


def _number(p: Parse, i: int) -> float | None:
    if 0 <= i < len(p.units) and p.units[i].kind == "num" and not p.used[i]:
        value = float(p.units[i].value)
        return value / 100 if p.units[i].percent else value
    return None


def _alpha(p: Parse) -> None:
    patterns = [
        ("alpha", 1), ("significance level", 1), ("significance level of", 1),
        ("level of significance", 1), ("level of significance of", 1), ("alpha level", 1),
        ("alpha level of", 1), ("alpha of", 1), ("alpha value of", 1), ("at alpha", 1),
        ("significance threshold", 1), ("threshold of", 1), ("p <", 1), ("p-value <", 1),
        ("p value <", 1), ("p-value threshold of", 1), ("at the", 1), ("at", 1), ("at a", 1),
    ]  # fmt: skip
    for i in range(len(p.units)):
        for phrase, _ in patterns:
            words = tuple(phrase.split())
            end = p.phrase_at(i, [words])
            if end < 0:
                continue
            j = end
            while p.free(j) and (p.word(j) in ("=", "of", "is", "the") or p.units[j].word == "="):
                j += 1
            value = _number(p, j)
            if value is None:
                continue
            tail = j + 1
            level_words = ("significance", "level", "significant", "confidence", "alpha")
            needs_level = phrase.startswith("at") or phrase.startswith("threshold")
            if needs_level:
                k = tail
                while p.word(k) in ("significance", "level", "confidence", "alpha", "of"):
                    k += 1
                if k == tail:
                    continue
                tail = k
            if value > 0.5:  # "95% confidence" or "5 percent"
                if p.word(tail) == "confidence" or p.word(tail - 1) == "confidence":
                    value = 1 - value
                elif value < 50:
                    value = value / 100
            if value > 0.5:
                continue
            p.alpha = value
            p.take(i, tail, "alpha")
            while p.free(tail) and p.word(tail) in level_words:
                p.take(tail, tail + 1, "alpha")
                tail += 1
            break
    # "0.05 significance level", "5% level"
    for i, u in enumerate(p.units):
        if u.kind != "num" or p.used[i]:
            continue
        end = p.phrase_at(i + 1, _phrases("significance level", "level of significance",
                                          "level", "significance", "confidence level",
                                          "confidence", "alpha", "alpha level"))
        if end < 0:
            continue
        value = _number(p, i) or 0.0
        if "confidence" in [p.word(k) for k in range(i + 1, end)]:
            value = 1 - value
        if 0 < value <= 0.5:
            p.alpha = value
            p.take(i, end, "alpha")
            if p.word(i - 1) in ("at", "a") and p.free(i - 1):
                p.take(i - 1, i, "alpha")


def _decimals(p: Parse) -> None:
    for i in range(len(p.units)):
        if p.word(i) not in ("round", "rounded", "rounding", "decimal", "decimals", "to"):
            continue
        for j in range(i, min(i + 6, len(p.units))):
            value = _number(p, j)
            if value is not None and p.word(j + 1) in ("decimal", "decimals", "dp", "digits",
                                                       "significant", "places", "place"):
                k = j + 1
                while p.word(k) in ("decimal", "decimals", "dp", "digits", "places", "place",
                                    "significant", "figures"):
                    k += 1
                start = i
                while p.word(start - 1) in ("round", "rounded", "rounding", "to", "answer",
                                            "answers", "result", "results", "all", "values",
                                            "it", "them"):
                    start -= 1
                p.decimals = int(value)
                p.take(start, k, "decimals")
                return


def _tests(p: Parse) -> None:
    for kind, phrases in TEST_WORDS.items():
        for start, end in p.find(phrases):
            said = " ".join(u.word for u in p.units[start:end])
            if kind == "normality" and said == "normal" and not _normal_means_test(p, start):
                continue
            if kind == "outliers" and (
                p.word(start - 1) in _DROP_VERBS or p.word(start - 2) in _DROP_VERBS
            ):
                continue  # "after removing outliers" prepares the rows
            if kind == "correlation" and said in ("related", "relate", "relates") and not any(
                u.kind == "col" for u in p.units
            ):
                continue
            detail = said
            p.measure_words.append((start, kind, detail))
            p.take(start, end, kind)
            if kind == "correlation":
                for method in ("pearson", "spearman", "kendall"):
                    if said.startswith(method):
                        p.method = method
                if said in ("tau",):
                    p.method = "kendall"
                if said in ("rho",):
                    p.method = "spearman"
            if kind == "normality":
                if said.startswith("dagostino") or said == "normaltest":
                    p.method = "dagostino"
                elif said.startswith("shapiro"):
                    p.method = "shapiro"
            if kind == "ttest":
                if "welch" in said:
                    p.method = "welch"
                elif "paired" in said:
                    p.method = "paired"
                elif "student" in said:
                    p.method = "student"
    # words that go with a test: "test", "statistic", "coefficient", "significant", "p-value"
    if p.measure_words:
        for start, end in p.find(_SIGNIFICANT):
            p.take(start, end, "test")
        for start, end in p.find(_phrases(
            "test", "tests", "testing", "statistic", "statistics", "coefficient", "coefficients",
            "score", "r", "r value", "r-value", "value", "strength", "direction",
            "strength and direction",
            "the strength", "the direction", "whether", "hypothesis", "null hypothesis", "h0",
            "reject", "fail to reject", "result", "method", "level", "two-tailed", "two tailed",
            "two-sided", "two sided", "perform", "conduct",
            "groups", "independent", "degrees of freedom", "dof",
            "strong", "weak", "positive", "negative", "linear", "magnitude", "sign",
            "significant difference", "difference", "differences", "differ", "differs",
            "compare", "comparison", "normal", "distributed", "distribution", "follow",
            "follows", "variable", "variables",
        )):
            if not p.used[start]:
                p.take(start, end, "test-words")
    # "is there a significant difference in X between the groups of Y": a t-test or ANOVA.
    elif _has_word(p, "significant", "significantly", "statistically"):
        for start, end in p.find(_phrases(
            "significant difference", "significantly different", "differ significantly",
            "statistically significant difference", "significantly differ",
            "significantly higher", "significantly lower", "significantly larger",
            "significantly greater", "significantly less", "significantly more",
            "significantly smaller",
        )):
            p.measure_words.append((start, "difference", ""))
            p.take(start, end, "difference")
            for s2, e2 in p.find(_phrases(
                "statistically", "test", "whether", "differences", "difference", "groups",
                "means",
            )):
                p.take(s2, e2, "test-words")


_DROP_VERBS = frozenset({"drop", "remove", "removing", "dropping", "exclude", "excluding",
                         "without", "ignoring", "ignore", "discard", "discarding", "omit",
                         "omitting", "deleting", "delete", "removed", "excluded", "dropped"})
_TEST_GLUE = frozenset({
    "between", "and", "vs", "versus", "against", "with", "comparing", "compare", "compared",
    "differ", "differs", "different", "difference", "differences", "according", "to", "using",
    "use", "whether", "strongly", "strong", "strength", "level", "at", "on", "among", "across",
    "in", "of", "by", "test", "tests", "run", "perform", "apply", "do", "does", "significant",
    "significantly", "statistically", "value", "values", "coefficient", "coefficients",
    "correlated", "relationship", "groups", "group", "means", "sample", "samples", "is", "are",
})


def _normal_means_test(p: Parse, i: int) -> bool:
    """"normal" is a normality test in "does X look normal", not in "normal range"."""
    around = {p.word(i - 1), p.word(i - 2), p.word(i + 1)}
    return bool(around & {"is", "are", "look", "looks", "appear", "appears", "test", "roughly",
                          "approximately", "distribution", "distributed", "follow", "follows",
                          "for"}) or p.word(i + 1) == ""


def _regression_roles(p: Parse) -> None:
    """Which named column is the outcome: "regress Y on X", "predict Y from X"."""
    if not any(kind == "regression" for _, kind, _ in p.measure_words):
        return
    for i in range(len(p.units)):
        w = p.word(i)
        if w in ("on", "against", "onto") and p.col(i - 1) and p.col(i + 1):
            p.outcome = i - 1
            p.predictors_from = i + 1
            p.take(i, i + 1, "regression")
        if w in ("predict", "predicting", "explain", "explaining") and p.col(i + 1):
            p.outcome = i + 1
            p.take(i, i + 1, "regression")
        if w in ("dependent", "target", "response", "outcome") and p.col(i - 1):
            p.outcome = i - 1
            p.take(i, i + 1, "regression")
        if w in ("dependent", "target", "response", "outcome") and p.col(i + 2):
            p.outcome = i + 2
            p.take(i, i + 2, "regression")
    for start, end in p.find(_phrases(
        "as the dependent variable", "as dependent variable", "as the target", "as target",
        "as the response", "as the outcome", "as the independent variable", "as predictors",
        "as the predictor", "as predictor", "as the independent variables", "as independent",
        "as the independent", "as independent variables", "as the explanatory variable",
        "independent variable", "independent variables", "dependent variable", "predictor",
        "predictors", "explanatory", "features", "feature", "from", "using", "with", "on",
        "of", "by", "variable", "variables", "model", "fit", "fitting", "simple", "multiple",
        "coefficients", "coefficient", "intercept", "slope", "slopes", "r-squared", "r squared",
        "r2", "r^2", "coefficient of determination", "equation", "and", "to", "in terms of",
    )):
        p.take(start, end, "regression-words")


def _missing_and_prep(p: Parse) -> None:
    """"drop rows with missing X", "fill missing X with the median", "after removing outliers"."""
    drops = _phrases("drop", "remove", "removing", "dropping", "exclude", "excluding", "ignore",
                     "ignoring", "discard", "discarding", "without", "omit", "omitting",
                     "filter out", "filtering out", "after removing", "after dropping",
                     "after excluding", "deleting", "delete")
    fills = _phrases("fill", "filling", "impute", "imputing", "replace", "replacing",
                     "fill in", "filled", "imputed", "replaced")
    missing = _phrases("missing", "missing values", "null", "nulls", "nan", "nans",
                       "na", "null values", "nan values", "na values", "empty", "blank",
                       "missing data", "missing value", "n/a")
    for i in range(len(p.units)):
        end = p.phrase_at(i, drops)
        if end > 0:
            j = p.skip_articles(end)
            j = _skip(p, j, ("rows", "row", "records", "entries", "observations", "any", "all",
                             "with", "that", "have", "has", "containing", "where", "in"))
            k = p.phrase_at(j, missing)
            if k > 0:
                k2 = _skip(p, k, ("in", "from", "of", "for", "the", "values", "value", "rows",
                                  "column", "columns"))
                cols = _column_list(p, k2)
                before = _column_list_back(p, i - 1) if not cols else []
                columns = tuple(p.col(c) for c in cols + before if p.col(c))
                p.prep.append(Prep("dropna", columns))  # type: ignore[arg-type]
                for c in cols + before:
                    p.take(c, c + 1, "prep")
                p.take(i, max(k2, k), "prep")
                continue
            k = p.phrase_at(j, _phrases("duplicates", "duplicate rows", "duplicate",
                                        "duplicated rows", "duplicated"))
            if k > 0:
                p.prep.append(Prep("drop_duplicates"))
                p.take(i, k, "prep")
                continue
            k = p.phrase_at(j, TEST_WORDS["outliers"])
            if k > 0:
                p.measure_words.append((i, "drop_outliers", ""))
                p.take(i, k, "prep")
                continue
        end = p.phrase_at(i, fills)
        if end > 0:
            j = p.skip_articles(end)
            j = _skip(p, j, ("in", "the", "of"))
            k = p.phrase_at(j, missing)
            cols = []
            if k > 0:
                k = _skip(p, k, ("in", "of", "for", "the", "values", "value"))
                cols = _column_list(p, k)
            else:
                cols = _column_list(p, j)
                if cols:
                    k = cols[-1] + 1
                    k2 = p.phrase_at(_skip(p, k, ("'s", "s")), missing)
                    if k2 > 0:
                        k = k2
            if k < 0:
                continue
            m = _skip(p, cols[-1] + 1 if cols else k, ("values", "value", "with", "using", "by",
                                                         "the", "its", "their", "column",
                                                         "columns", "respective"))
            how = p.word(m)
            value: Any = None
            if how in ("mean", "average", "avg"):
                how = "mean"
            elif how in ("median",):
                how = "median"
            elif how in ("mode", "most"):
                how = "mode"
                if p.word(m + 1) in ("common", "frequent"):
                    m += 1
            elif how in ("zero", "zeros", "zeroes"):
                how, value = "value", 0.0
            elif _number(p, m) is not None:
                how, value = "value", _number(p, m)
            else:
                raise Refusal("the value to fill missing values with (say “with the mean”, "
                              "“with the median”, “with the mode” or a number)")
            tail = _skip(p, m + 1, ("value", "values", "of", "the", "column", "each",
                                    "respective", "its", "their"))
            while p.col(tail) is not None and p.col(tail) in [p.col(c) for c in cols]:
                tail += 1
            columns = tuple(p.col(c) for c in cols if p.col(c))
            p.prep.append(Prep("fillna", columns, how, value))  # type: ignore[arg-type]
            p.take(i, tail, "prep")
    # "non-missing X", "X is not missing", "where X is missing", "with no missing X"
    for i in range(len(p.units)):
        if p.col(i) is None or not p.free(i):
            continue
        end = p.phrase_at(i + 1, _phrases("is missing", "are missing", "is null", "is nan",
                                          "is empty", "is blank", "missing", "isnull", "isna"))
        if end > 0:
            p.filters.append(Cond(Expr.of(p.col(i) or ""), "isna", None, "none"))
            p.take(i, end, "filter")
            continue
        end = p.phrase_at(i + 1, _phrases("is not missing", "is not null", "not missing",
                                          "is present", "is known", "is not empty",
                                          "is not nan", "notnull", "notna"))
        if end > 0:
            p.filters.append(Cond(Expr.of(p.col(i) or ""), "notna", None, "none"))
            p.take(i, end, "filter")
            continue
        start = i - 1
        negated = p.phrase_at(start - 1, _phrases("non missing", "non null", "no missing")) if (
            start >= 1) else -1
        if negated == i or p.phrase_at(start, _phrases("non-missing", "non-null", "known",
                                                       "nonmissing", "valid")) == i:
            s = start - 1 if negated == i else start
            p.filters.append(Cond(Expr.of(p.col(i) or ""), "notna", None, "none"))
            p.take(s, i + 1, "filter")


def _skip(p: Parse, j: int, words: Iterable[str]) -> int:
    words = set(words)
    while p.free(j) and p.word(j) in words:
        j += 1
    return j


def _column_list(p: Parse, j: int) -> list[int]:
    """Units of a list of columns starting at j: "a, b and c"."""
    out: list[int] = []
    while p.col(j) is not None and p.free(j):
        out.append(j)
        k = j + 1
        if p.units[k].text in (",", "/") if k < len(p.units) else False:
            k += 1
        if p.word(k) in ("and", "or", "&"):
            k += 1
        if p.col(k) is None or (k == j + 1 and not out):
            break
        if k == j + 1:
            break
        j = k
    return out


def _column_list_back(p: Parse, j: int) -> list[int]:
    out: list[int] = []
    if p.word(j) in ("in", "of", "from"):
        j -= 1
    while p.col(j) is not None and p.free(j):
        out.insert(0, j)
        j -= 1
        if 0 <= j < len(p.units) and p.units[j].text in (",",):
            j -= 1
        if p.word(j) in ("and", "or"):
            j -= 1
    return out


def _new_columns(p: Parse) -> None:
    """"create a new column called ratio as a / b": a named derived column for what follows."""
    intro = _phrases("create", "add", "make", "derive", "compute", "calculate", "define",
                     "generate", "construct", "engineer")
    for i in range(len(p.units)):
        end = p.phrase_at(i, intro)
        if end < 0:
            continue
        j = _skip(p, end, ("a", "an", "the", "new"))
        k = p.phrase_at(j, _phrases("column", "feature", "variable", "field", "columns"))
        if k < 0:
            continue
        k = _skip(p, k, ("called", "named", "titled", "labelled", "labeled"))
        unit = p.units[k] if k < len(p.units) else None
        if unit is None or unit.kind not in ("word", "quoted"):
            continue
        name = unit.text
        if name in p.table.columns:
            raise Refusal(f"a new column “{name}” would replace the existing column `{name}`")
        p.take(i, k + 1, "new-column")
        m = _skip(p, k + 1, ("as", "that", "which", "is", "equal", "to", "equals", "=", "by",
                             "being", "holding", "containing", "with", "the"))
        if m < len(p.units) and p.units[m].word == "=":
            m += 1
        p.extras_new = (name, m)  # type: ignore[attr-defined]
        p.new_columns.append((name, Expr()))  # filled by _derived
        return


def _derived(p: Parse) -> None:
    """Expressions over columns: differences, ratios, sums, logs, date parts."""
    binary = {
        "sub": (_phrases("minus", "-", "less"), _phrases("difference between", "difference of",
                                                          "gap between", "the difference between")),
        "div": (_phrases("divided by", "/"), _phrases("ratio of", "ratio between",
                                                                     "quotient of")),
        "add": (_phrases("plus", "+"), _phrases("sum of")),
        "mul": (_phrases("times", "multiplied by", "*"), _phrases("product of")),
    }
    for op, (infix, prefix) in binary.items():
        for i in range(len(p.units)):
            # prefix: "difference between a and b", "ratio of a to b"
            end = p.phrase_at(i, prefix)
            if end > 0:
                a = p.skip_articles(end)
                if p.col(a) and p.word(a + 1) in ("and", "to", "over", "vs", "versus", "with") and (
                    p.col(a + 2)
                ):
                    if op == "add" and len(_column_list(p, a)) > 2:
                        continue
                    if op == "add" and not _wants_row_sum(p, i):
                        continue  # "sum of a and b" is two totals, not a column
                    if not (p.table.is_numeric(p.col(a) or "") or op == "sub"):
                        continue
                    expr = Expr(op=op, args=(Expr.of(p.col(a) or ""), Expr.of(p.col(a + 2) or "")))  # type: ignore[arg-type]
                    _place_derived(p, i, a + 3, expr)
                continue
            # infix: "a - b", "a divided by b", "a per b" (numbers only)
            if p.col(i) and p.phrase_at(i + 1, infix) > 0:
                end = p.phrase_at(i + 1, infix)
                if p.col(end) and p.table.is_numeric(p.col(i) or "") and p.table.is_numeric(
                    p.col(end) or ""
                ):
                    if op == "div" and p.word(i + 1) in ("per", "over") and not p.table.is_numeric(
                        p.col(end) or ""
                    ):
                        continue
                    expr = Expr(op=op, args=(Expr.of(p.col(i) or ""), Expr.of(p.col(end) or "")))  # type: ignore[arg-type]
                    _place_derived(p, i, end + 1, expr)
    unary = {
        "log": _phrases("log of", "log", "logarithm of", "natural log of", "natural logarithm of",
                        "log-transformed", "log transformed", "ln", "log10 of", "log10"),
        "sqrt": _phrases("square root of", "sqrt of", "sqrt"),
        "abs": _phrases("absolute value of", "absolute"),
        "year": _phrases("year of", "year from", "years of"),
        "month": _phrases("month of", "month from"),
        "weekday": _phrases("day of the week of", "weekday of", "day of week of",
                            "day of the week from"),
        "hour": _phrases("hour of", "hour from"),
    }
    for op, phrases in unary.items():
        for i in range(len(p.units)):
            end = p.phrase_at(i, phrases)
            if end < 0:
                continue
            a = p.skip_articles(end)
            column = p.col(a)
            if column is None:
                continue
            if op in ("year", "month", "weekday", "hour") and p.table.kind(column) != "date":
                continue
            if op in ("log", "sqrt", "abs") and not p.table.is_numeric(column):
                continue
            if "log10" in [p.word(k) for k in range(i, end)]:
                raise Refusal("a base-10 logarithm (the planner takes natural logs only)")
            _place_derived(p, i, a + 1, Expr(op=op, args=(Expr.of(column),)))  # type: ignore[arg-type]
    if hasattr(p, "extras_new"):
        name, m = p.extras_new
        formula = next((e for i, e in p.derived if i >= m - 1), None)
        if formula is None and p.col(m) is not None:
            formula = Expr.of(p.col(m) or "")
            p.take(m, m + 1, "new-column")
        if formula is None:
            raise Refusal(f"the formula of the new column “{name}”")
        p.new_columns[-1] = (name, formula)
        p.derived = [(i, e) for i, e in p.derived if e is not formula]


def _wants_row_sum(p: Parse, i: int) -> bool:
    """"the sum of a and b for each row" / "a new column as the sum of a and b"."""
    return hasattr(p, "extras_new") or _has_word(p, "each row", "row-wise", "rowwise")


def _place_derived(p: Parse, start: int, end: int, expr: Expr) -> None:
    p.take(start, end, "derived")
    p.units[start] = Unit("col", " ".join(u.text for u in p.units[start:end]), column=None,
                          value=expr)
    p.used[start] = ""  # the expression unit is a target like a column, until a slot takes it
    p.derived.append((start, expr))


def _expr_at(p: Parse, i: int) -> Expr | None:
    if not (0 <= i < len(p.units)) or p.units[i].kind != "col":
        return None
    unit = p.units[i]
    if isinstance(unit.value, Expr):
        return unit.value
    return Expr.of(unit.column or "")


_LIMIT_DESC = _phrases("top", "highest", "largest", "biggest", "greatest", "most", "best",
                       "maximum", "max", "heaviest", "longest", "oldest", "latest", "richest")
_LIMIT_ASC = _phrases("bottom", "lowest", "smallest", "least", "fewest", "worst", "minimum",
                      "min", "lightest", "shortest", "youngest", "earliest", "poorest",
                      "cheapest")


def _limits_and_order(p: Parse) -> None:
    """"top 5 …", "the 3 lowest …", "first 10 rows", "sorted by x descending"."""
    for i, u in enumerate(p.units):
        if p.used[i]:
            continue
        # "top 5", "bottom 3", "first 10", "last 4"
        if p.word(i) in ("top", "bottom", "first", "last", "highest", "lowest", "largest",
                         "smallest") and _number(p, i + 1) is not None:
            n = _number(p, i + 1) or 0
            if n != int(n) or n <= 0:
                continue
            p.limit = int(n)
            if p.word(i) in ("top", "highest", "largest"):
                p.descending = True
            elif p.word(i) in ("bottom", "lowest", "smallest"):
                p.descending = False
            elif p.word(i) == "last":
                p.preview = "tail"
            else:
                p.preview = p.preview or "head"
            p.take(i, i + 2, "limit")
            if p.descending is not None:
                p.measure_words.append((i, "top", ""))
            continue
        # "the 5 highest", "5 largest"
        if u.kind == "num" and p.phrase_at(i + 1, _LIMIT_DESC + _LIMIT_ASC) > 0:
            n = _number(p, i) or 0
            if n == int(n) and n > 0:
                end = p.phrase_at(i + 1, _LIMIT_DESC + _LIMIT_ASC)
                p.limit = int(n)
                p.descending = p.phrase_at(i + 1, _LIMIT_DESC) > 0
                p.measure_words.append((i, "top", ""))
                p.take(i, end, "limit")
        # "5 rows", "10 records"
        if u.kind == "num" and p.word(i + 1) in ROW_NOUNS | {p.table.stem, stem(p.table.stem)}:
            n = _number(p, i) or 0
            if n == int(n) and n > 0:
                p.limit = int(n)
                p.take(i, i + 2, "limit")
    if p.limit is not None:
        for start, end in p.find(_phrases("by number of", "by the number of", "by count of",
                                          "with the most", "by count")):
            j = end
            if p.word(j) in ROW_NOUNS or stem(p.word(j)) == stem(p.table.stem):
                p.take(start, j + 1, "limit")  # "top 3 states by number of airports"
            elif p.word(j) == "" and end == start + 2:
                p.take(start, end, "limit")
        for start, end in p.find(_phrases("by", "based on", "in terms of", "according to",
                                          "ranked by", "sorted by", "ordered by", "with the most",
                                          "with the highest", "with the largest")):
            j = _skip(p, end, ("the", "their", "its", "total", "average"))
            if p.col(j) is not None:
                p.take(start, end, "limit")
    sort_words = _phrases("sort", "sorted", "sorting", "order", "ordered", "arrange", "arranged",
                          "rank", "ranked", "ranking", "sort by", "order by", "sorted by",
                          "ordered by", "ranked by", "arranged by", "rank by", "arrange by")
    for start, end in p.find(sort_words):
        j = _skip(p, end, ("by", "the", "on", "according", "to", "in", "rows", "data"))
        cols = []
        while p.col(j) is not None:
            cols.append(j)
            j = _skip(p, j + 1, ("and", ",", "then"))
        if not cols and p.word(start) in ("order",) and p.word(end) not in ("by",):
            continue  # "order" the noun ("average order value")
        p.take(start, end, "sort")
        p.measure_words.append((start, "sort", ""))
        for c in cols:
            expr = _expr_at(p, c)
            if expr is not None:
                p.sort_by.append((expr, False))
                p.take(c, c + 1, "sort")
        p.take(end, cols[0] if cols else end, "sort")
    for start, end in p.find(_phrases(
        "descending", "in descending order", "descending order", "from highest to lowest",
        "highest to lowest", "largest to smallest", "from largest to smallest", "high to low",
        "decreasing", "in decreasing order", "largest first", "highest first", "desc",
        "most to least",
    )):
        p.descending = True
        p.take(start, end, "order")
    for start, end in p.find(_phrases(
        "ascending", "in ascending order", "ascending order", "from lowest to highest",
        "lowest to highest", "smallest to largest", "from smallest to largest", "low to high",
        "increasing", "in increasing order", "smallest first", "lowest first", "asc",
        "least to most", "alphabetically", "alphabetical order", "in alphabetical order",
    )):
        p.descending = False
        p.take(start, end, "order")


def _extreme_entity(p: Parse) -> None:
    """"which country has the most deaths", "the site with the highest score", "when was …"."""
    for start, end in p.find(_phrases(
        "in a single year", "in any single year", "in a single row", "in one year",
        "in a single month", "in a single day", "in a single game", "in a single season",
        "in any one year", "in a single record", "in any year", "at any point", "ever",
        "in a single", "single", "individual",
    )):
        p.single = True  # type: ignore[attr-defined]
        p.take(start, end, "entity")
        if p.col(end) is not None and p.word(end - 1) in ("single", "one", "given", "any"):
            p.take(end, end + 1, "entity")  # "in a single year", where `year` is a column
    for start, end in p.find(_phrases("in a single", "in any single", "in any one", "in one",
                                      "in a given", "for a single", "during a single")):
        if p.col(end) is not None:  # "in a single year", where `year` is a column
            p.single = True  # type: ignore[attr-defined]
            p.take(start, end + 1, "entity")
    for i in range(len(p.units)):
        w = p.word(i)
        if w in ("which", "what") and p.free(i):
            j = _skip(p, i + 1, ("the", "one", "particular"))
            column = p.col(j)
            if column is not None and p.free(j) and not isinstance(p.units[j].value, Expr):
                if p.word(j + 1) == "and" and p.col(j + 2) is not None and _superlative_after(
                    p, j + 3
                ):
                    p.row_entity = True  # "which year and quarter": the whole row says both
                    p.take(i, j + 3, "entity")
                    return
                if _superlative_after(p, j + 1):
                    p.entity = (j, column or "")
                    p.take(i, j + 1, "entity")
                    return
            rows = p.word(j) in ROW_NOUNS or p.word(j) in (p.table.stem, stem(p.table.stem))
            if rows and _superlative_after(p, j + 1):
                p.row_entity = True
                p.take(i, j + 1, "entity")
                return
        asks_when = w == "when" or (w in ("what", "which") and p.free(i) and p.word(i + 1) in (
            "date", "day", "time", "year", "month"))
        if asks_when and _superlative_after(p, i + 1) and p.table.date_columns:
            p.when_entity = True
            k = i + 2 if w != "when" else i + 1
            p.take(i, k, "entity")
            return
        # "the country with the highest …", "the player who scored the most …"
        column = p.col(i)
        if column is not None and p.free(i) and (
            p.table.kind(column) in ("text", "bool") or _is_identifier(p.table, column)
        ) and p.word(i + 1) in ("with", "having", "that", "who", "which", "whose", "has", "had",
                                 "where") and _superlative_after(p, i + 2) and p.word(i - 1) in (
            "the", "which", "what", "a"
        ):
            p.entity = (i, column)
            p.take(i, i + 2, "entity")
            return
        # "the row with the highest …"
        if (w in ROW_NOUNS or w in (p.table.stem, stem(p.table.stem))) and p.word(i + 1) in (
            "with", "having", "that", "which", "where", "has"
        ) and _superlative_after(p, i + 2) and p.word(i - 1) in ("the", "which", "what"):
            p.row_entity = True
            p.take(i, i + 2, "entity")
            return


def _is_identifier(table: Table, column: str) -> bool:
    return table.is_numeric(column) and table.unique_per_row(column) and table.facts(
        column
    ).integers and any(w in column.lower() for w in ("id", "no", "code", "number", "key"))


def _superlative_after(p: Parse, j: int) -> bool:
    for k in range(j, min(j + 5, len(p.units))):
        if p.phrase_at(k, AGG_WORDS["max"] + AGG_WORDS["min"]) > 0:
            return True
    return False


def _filters(p: Parse) -> None:
    _between(p)
    _comparisons(p)
    _ages(p)
    _value_mentions(p)
    _years_and_dates(p)
    _same_column_values(p)


def _same_column_values(p: Parse) -> None:
    """"sex 1 and sex 2": one column equal to two values is a choice of two groups."""
    by_column: dict[Expr, list[Cond]] = {}
    for cond in p.filters:
        if cond.op == "==" and not isinstance(cond.value, AggRef) and cond.kind in (
            "number", "text"
        ):
            by_column.setdefault(cond.expr, []).append(cond)
    for expr, conds in by_column.items():
        if len(conds) < 2 or not expr.is_column:
            continue
        values = tuple(c.value for c in conds)
        p.filters = [c for c in p.filters if c not in conds]
        p.filters.append(Cond(expr, "in", values, conds[0].kind))
        if not any(g.column == expr.column for g in p.groups):
            p.groups.append(Group(expr.column or ""))


def _ages(p: Parse) -> None:
    """"older than 50", "under 30 years old": the table's age column."""
    ages = [c for c in p.table.columns if c.lower() == "age" and p.table.is_numeric(c)]
    if len(ages) != 1:
        return
    for i in range(len(p.units)):
        w = p.word(i)
        if w in ("older", "younger") and p.word(i + 1) == "than" and _number(p, i + 2) is not None:
            op: CondOp = ">" if w == "older" else "<"
            p.filters.append(Cond(Expr.of(ages[0]), op, _number(p, i + 2), "number"))
            end = i + 3
            end = _skip(p, end, ("years", "year", "old"))
            p.take(i, end, "filter")
        elif w in ("aged",) and _number(p, i + 1) is not None:
            p.filters.append(Cond(Expr.of(ages[0]), "==", _number(p, i + 1), "number"))
            p.take(i, _skip(p, i + 2, ("years", "old")), "filter")


def _value_at(p: Parse, j: int, column: str) -> tuple[Any, str, int] | None:
    """(value, kind, end) of a literal for `column` at unit j."""
    if not (0 <= j < len(p.units)) or p.used[j]:
        return None
    unit = p.units[j]
    kind = p.table.kind(column)
    if unit.kind == "num":
        value = float(unit.value)
        if kind == "date" and 1000 <= value <= 2999 and value == int(value):
            return value, "year", j + 1
        if kind == "number" or p.table.text_of_numbers(column):
            return value, "number", j + 1
        if kind in ("text", "bool"):
            return unit.text, "text", j + 1
        return None
    if unit.kind == "date" and kind == "date":
        return unit.value, "date", j + 1
    if unit.kind == "val" and unit.column == column:
        return unit.value, "text", j + 1
    if unit.kind == "val" and any(c == column for c, _ in unit.candidates):
        value = next(v for c, v in unit.candidates if c == column)
        return value, "text", j + 1
    if unit.kind == "quoted" and kind in ("text", "bool"):
        known = p.table.text_values(column)
        match = [v for v in known if v.lower() == unit.text.lower()]
        return (match[0] if match else unit.text), "text", j + 1
    if unit.kind == "word" and kind == "text" and unit.word not in FILLER and not p.table.facts(
        column
    ).values:
        return unit.text, "text", j + 1  # a column with many values: taken as written
    if unit.kind in ("word", "val") and kind == "bool":
        if unit.word in ("true", "yes"):
            return True, "bool", j + 1
        if unit.word in ("false", "no"):
            return False, "bool", j + 1
    if unit.kind == "word" and unit.word in ("true", "false", "yes", "no") and p.table.binary(
        column
    ):
        true, false = p.table.binary(column) or (True, False)
        return (true if unit.word in ("true", "yes") else false), "binary", j + 1
    return None


_TEMPORAL = frozenset({"after", "before", "since", "until", "prior", "earlier", "later",
                       "newer", "older", "younger", "on"})


def _time_like(table: Table, expr: Expr) -> bool:
    column = expr.column or ""
    return table.kind(column) == "date" or column.lower() in ("year", "yr", "years", "date",
                                                              "season", "age")


def _agg_ref_at(p: Parse, j: int, column: str) -> tuple[AggRef, int] | None:
    """"the average", "the mean fee", "the median of price", "average" at unit j."""
    j = _skip(p, j, ("the", "its", "their", "overall", "dataset", "dataset's"))
    for agg in ("mean", "median", "min", "max"):
        end = p.phrase_at(j, AGG_WORDS[agg])
        if end < 0:
            continue
        k = _skip(p, end, ("of", "the", "value", "for", "all", "across", "in"))
        expr = _expr_at(p, k) if p.free(k) else None
        if expr is not None:
            return AggRef(agg, expr), k + 1
        k2 = _skip(p, end, ("value",))
        return AggRef(agg, Expr.of(column)), k2
    return None


def _between(p: Parse) -> None:
    for i in range(len(p.units)):
        expr = _expr_at(p, i)
        if expr is None or not p.free(i):
            continue
        j = _skip(p, i + 1, ("is", "are", "was", "were", "lies", "lying", "falls", "ranging",
                             "ranges", "range"))
        if p.word(j) not in ("between", "from"):
            continue
        column = expr.column or ""
        lo = _value_at(p, j + 1, column) if expr.is_column else None
        if lo is None and not expr.is_column and _number(p, j + 1) is not None:
            lo = (_number(p, j + 1), "number", j + 2)
        if lo is None or (p.word(lo[2]) not in ("and", "to", "-") and p.units[lo[2]].text != "-"):
            continue
        hi = _value_at(p, lo[2] + 1, column) if expr.is_column else (
            (_number(p, lo[2] + 1), "number", lo[2] + 2) if _number(p, lo[2] + 1) is not None
            else None)
        if hi is None or lo[1] == "text":
            continue
        p.filters.append(Cond(expr, ">=", lo[0], lo[1]))  # type: ignore[arg-type]
        p.filters.append(Cond(expr, "<=", hi[0], hi[1]))  # type: ignore[arg-type]
        p.take(i, hi[2], "filter")
        _take_inclusive(p, hi[2])


def _take_inclusive(p: Parse, j: int) -> None:
    end = p.phrase_at(j, _phrases("inclusive", "(inclusive)", "both inclusive", "inclusively"))
    if end > 0:
        p.take(j, end, "filter")


def _comparisons(p: Parse) -> None:
    ops = [phrase for phrase, _ in OPS]
    op_of = {phrase: op for phrase, op in OPS}
    for i in range(len(p.units)):
        expr = _expr_at(p, i)
        if expr is None or not p.free(i):
            continue
        # column, then "is greater than" …, then a value or an aggregate
        j = _skip(p, i + 1, ("that", "which", "whose", "where", "with", "values", "value",
                             "has", "have", "had", "is", "are", "was", "were", "of"))
        j = j if p.phrase_at(j, ops) > 0 else i + 1
        end = p.phrase_at(j, ops)
        if end < 0:
            continue
        phrase = tuple(p.units[k].word for k in range(j, end))
        op = op_of.get(phrase, "==")
        if phrase[0] in _TEMPORAL and not _time_like(p.table, expr):
            continue  # "x after 1980" speaks of time: a date or year column, not x
        if op in ("==", "!=") and p.word(end) == "in":
            end += 1  # "is in", "not in"
        k = _skip(p, end, ("than", "to", "the", "a", "an", "equal", "of", "that", "$"))
        column = expr.column or ""
        ref = _agg_ref_at(p, k, column) if op in (">", ">=", "<", "<=", "==", "!=") else None
        if ref is not None:
            agg, stop = ref
            p.filters.append(Cond(expr, op, agg, "number"))  # type: ignore[arg-type]
            p.take(i, stop, "filter")
            continue
        if not expr.is_column:
            value = _number(p, k)
            if value is None:
                continue
            p.filters.append(Cond(expr, op, value, "number"))  # type: ignore[arg-type]
            p.take(i, k + 1, "filter")
            continue
        literal = _value_at(p, k, column)
        if literal is None:
            continue
        value, kind, stop = literal
        if op == "contains" and kind not in ("text",):
            continue
        if op in (">", ">=", "<", "<=") and kind in ("text", "bool", "binary"):
            continue
        if kind == "binary":
            kind = "text" if isinstance(value, str) else "number"
        values = [value]
        # "region is North or South", "in (a, b)"
        while p.word(stop) in ("or", ",") or (stop < len(p.units) and p.units[stop].text == ","):
            more = _value_at(p, stop + 1, column)
            if more is None or more[1] != kind:
                break
            values.append(more[0])
            stop = more[2]
        if len(values) > 1 and op in ("==", "!="):
            p.filters.append(Cond(expr, "in" if op == "==" else "not in", tuple(values), kind))  # type: ignore[arg-type]
        else:
            p.filters.append(Cond(expr, op, value, kind))  # type: ignore[arg-type]
        p.take(i, stop, "filter")
    # "more than 40 units", "at least 3 children", "over 30 years old"? (op, number, column)
    for i in range(len(p.units)):
        end = p.phrase_at(i, [ph for ph, op in OPS if op in (">", ">=", "<", "<=")])
        if end < 0:
            continue
        phrase = tuple(p.units[k].word for k in range(i, end))
        op = op_of[phrase]
        k = _skip(p, end, ("than", "$"))
        value = _number(p, k)
        if value is None:
            continue
        c = k + 1
        if p.word(c) in UNITS:
            c += 1  # "more than 13 percent alcohol"
        expr = _expr_at(p, c)
        if expr is None or not p.free(c) or not expr.numeric(p.table):
            continue
        p.filters.append(Cond(expr, op, value, "number"))  # type: ignore[arg-type]
        p.take(i, c + 1, "filter")
    # "5 or more cylinders", "3 or fewer children": the number first
    for i in range(len(p.units)):
        value = _number(p, i)
        if value is None:
            continue
        end = p.phrase_at(i + 1, [ph for ph, op in OPS if ph[0] in ("or", "and")])
        if end < 0:
            continue
        expr = _expr_at(p, end)
        if expr is None or not p.free(end) or not expr.numeric(p.table):
            continue
        op = op_of[tuple(p.units[k].word for k in range(i + 1, end))]
        p.filters.append(Cond(expr, op, value, "number"))  # type: ignore[arg-type]
        p.take(i, end + 1, "filter")
    # "sex 1", "PLOT 5": a column of few whole numbers, then one of them
    for i in range(len(p.units)):
        expr = _expr_at(p, i)
        value = _number(p, i + 1)
        if expr is None or value is None or not expr.is_column or not p.free(i):
            continue
        facts = p.table.facts(expr.column or "")
        if facts.values is not None and facts.integers and value in facts.values:
            p.filters.append(Cond(expr, "==", value, "number"))
            p.take(i, i + 2, "filter")
    # "with 6 cylinders": a whole number with an integer column of few values
    for i in range(len(p.units)):
        value = _number(p, i)
        expr = _expr_at(p, i + 1)
        if value is None or expr is None or not expr.is_column or not p.free(i + 1):
            continue
        facts = p.table.facts(expr.column or "")
        if facts.values is not None and facts.integers and value in facts.values and p.word(
            i - 1
        ) in ("with", "having", "has", "have", "of", "for", "in"):
            p.filters.append(Cond(expr, "==", value, "number"))
            p.take(i - 1, i + 2, "filter")


def _value_mentions(p: Parse) -> None:
    """Values of text columns named on their own: "returned orders", "in the West region"."""
    by_column: dict[str, list[tuple[int, Any, bool]]] = {}
    for i, unit in enumerate(p.units):
        if unit.kind != "val" or p.used[i]:
            continue
        if len({c for c, _ in unit.candidates}) > 1:
            named = [c for c, _ in unit.candidates if any(
                u.kind == "col" and u.column == c for u in p.units)]
            if len(named) != 1:
                cols = ", ".join(f"`{c}`" for c, _ in unit.candidates)
                raise Refusal(f"“{unit.text}” is a value of several columns ({cols}): say which")
            unit.column = named[0]
            unit.value = next(v for c, v in unit.candidates if c == named[0])
        adjacent = p.col(i - 1) == unit.column or p.col(i + 1) == unit.column
        if unit.weak and not adjacent:
            continue
        negated = p.word(i - 1) in ("not", "non", "excluding", "except", "without") or (
            p.word(i - 2) in ("other", "except", "excluding") and p.word(i - 1) in ("than",)
        )
        start = i - (2 if p.word(i - 2) == "other" and p.word(i - 1) == "than" else 1) if (
            negated) else i
        p.take(start, i + 1, "filter")
        if p.word(start - 1) in ("among", "amongst", "within", "only", "just") and p.free(
            start - 1
        ):
            p.take(start - 1, start, "filter")
        if p.col(i - 1) == unit.column and p.free(i - 1):
            p.take(i - 1, i, "filter")
        elif p.col(i + 1) == unit.column and p.free(i + 1):
            p.take(i + 1, i + 2, "filter")
        by_column.setdefault(unit.column or "", []).append((i, unit.value, negated))
    for column, found in by_column.items():
        positive = [v for _, v, neg in found if not neg]
        negative = [v for _, v, neg in found if neg]
        if len(positive) == 1:
            p.filters.append(Cond(Expr.of(column), "==", positive[0], "text"))
        elif positive:
            p.filters.append(Cond(Expr.of(column), "in", tuple(positive), "text"))
            if _joined_by_and(p, [i for i, _, neg in found if not neg]):
                # "male and female passengers": no row is both; each value is its own group.
                p.groups.append(Group(column))
        if len(negative) == 1:
            p.filters.append(Cond(Expr.of(column), "!=", negative[0], "text"))
        elif negative:
            p.filters.append(Cond(Expr.of(column), "not in", tuple(negative), "text"))


def _joined_by_and(p: Parse, indices: list[int]) -> bool:
    """Values joined by "and" ("male and female passengers"), not by "or"."""
    for a, b in itertools.pairwise(indices):
        between = [p.word(k) for k in range(a + 1, b)]
        if "or" in between:
            return False
        for k in range(a + 1, b):
            if p.word(k) in ("vs", "versus", "and", "compared", "to", "against") and p.free(k):
                p.take(k, k + 1, "filter")
    return True


def _year_column(p: Parse) -> tuple[str, str] | None:
    """(column, kind): a numeric year column, or the table's one date column."""
    years = [c for c in p.table.columns if c.lower() in ("year", "yr", "years", "season")
             and p.table.is_numeric(c)]
    if len(years) == 1:
        return years[0], "number"
    dates = p.table.date_columns
    if len(dates) == 1:
        return dates[0], "year"
    return None


_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["january", "february", "march", "april", "may", "june", "july", "august",
         "september", "october", "november", "december"]
    )
}
_MONTHS.update({m[:3]: n for m, n in list(_MONTHS.items()) if m != "may"})


def _months_and_decades(p: Parse) -> None:
    dates = p.table.date_columns
    for i in range(len(p.units)):
        unit = p.units[i]
        # "the 1970s", "in the 80s"
        if unit.kind == "word" and re.fullmatch(r"(?:1[89]|20)\d0s|\d0s", unit.word) and p.free(i):
            found = _year_column(p)
            if found is None:
                continue
            start = int(unit.word[:-1])
            start = start + 1900 if start < 100 else start
            column, kind = found
            p.filters.append(Cond(Expr.of(column), ">=", float(start), kind))  # type: ignore[arg-type]
            p.filters.append(Cond(Expr.of(column), "<=", float(start + 9), kind))  # type: ignore[arg-type]
            s = i - 1 if p.word(i - 1) in ("the",) else i
            s = s - 1 if p.word(s - 1) in ("in", "during") else s
            p.take(s, i + 1, "filter")
            continue
        month = _MONTHS.get(p.word(i))
        if month is None or not p.free(i) or len(dates) != 1:
            continue
        if p.word(i) == "may" and p.word(i - 1) not in ("in", "of", "during"):
            continue
        column = dates[0]
        year = _number(p, i + 1)
        start = i - 1 if p.word(i - 1) in ("in", "during", "for", "of") else i
        if year is not None and 1000 <= year <= 2999:
            first = f"{int(year)}-{month:02d}-01"
            last = (pd_month_end(int(year), month))
            p.filters.append(Cond(Expr.of(column), ">=", first, "date"))
            p.filters.append(Cond(Expr.of(column), "<=", last, "date"))
            p.take(start, i + 2, "filter")
        else:
            p.filters.append(Cond(Expr(op="month", args=(Expr.of(column),)), "==",
                                  float(month), "number"))
            p.take(start, i + 1, "filter")


def pd_month_end(year: int, month: int) -> str:
    import calendar

    return f"{year}-{month:02d}-{calendar.monthrange(year, month)[1]:02d}"


def _years_and_dates(p: Parse) -> None:
    _months_and_decades(p)
    intro = {"in": "==", "during": "==", "for": "==", "of": "==", "after": ">", "since": ">=",
             "from": ">=", "before": "<", "until": "<=", "through": "<=", "prior": "<",
             "by": "<=", "on": "==", "between": "between"}
    for i in range(len(p.units)):
        op = intro.get(p.word(i))
        if op is None or not p.free(i):
            continue
        j = _skip(p, i + 1, ("the", "year", "to"))
        unit = p.units[j] if j < len(p.units) else None
        if unit is None or p.used[j]:
            continue
        if unit.kind == "date" and len(p.table.date_columns) == 1:
            column = p.table.date_columns[0]
            if op == "between" and p.word(j + 1) == "and" and j + 2 < len(p.units) and (
                p.units[j + 2].kind == "date"
            ):
                p.filters.append(Cond(Expr.of(column), ">=", unit.value, "date"))
                p.filters.append(Cond(Expr.of(column), "<=", p.units[j + 2].value, "date"))
                p.take(i, j + 3, "filter")
                continue
            if op == "between":
                continue
            p.filters.append(Cond(Expr.of(column), op, unit.value, "date"))  # type: ignore[arg-type]
            p.take(i, j + 1, "filter")
            continue
        value = _number(p, j)
        if value is None or not (1000 <= value <= 2999) or value != int(value):
            continue
        found = _year_column(p)
        if found is None:
            continue
        column, kind = found
        if op == "between":
            other = _number(p, j + 2) if p.word(j + 1) in ("and", "to") else None
            if other is None:
                continue
            if any(k in ("ttest", "difference", "anova") for _, k, _ in p.measure_words) and (
                kind == "number"
            ):
                # "did yield differ between 1931 and 1932": two groups, not a range
                p.filters.append(Cond(Expr.of(column), "in", (value, other), "number"))
                p.groups.append(Group(column))
                p.take(i, j + 3, "filter")
                continue
            p.filters.append(Cond(Expr.of(column), ">=", value, kind))  # type: ignore[arg-type]
            p.filters.append(Cond(Expr.of(column), "<=", other, kind))  # type: ignore[arg-type]
            p.take(i, j + 3, "filter")
            _take_inclusive(p, j + 3)
            continue
        if op in ("==",) and p.word(j + 1) in ("to", "-", "through", "until") and _number(
            p, j + 2
        ) is not None:
            other = _number(p, j + 2)
            p.filters.append(Cond(Expr.of(column), ">=", value, kind))  # type: ignore[arg-type]
            p.filters.append(Cond(Expr.of(column), "<=", other, kind))  # type: ignore[arg-type]
            p.take(i, j + 3, "filter")
            continue
        if p.word(i) == "prior" and p.word(i + 1) == "to":
            p.take(i, i + 1, "filter")
        p.filters.append(Cond(Expr.of(column), op, value, kind))  # type: ignore[arg-type]
        p.take(i, j + 1, "filter")


def _groups(p: Parse) -> None:
    for period, texts in _PERIODS.items():
        for start, end in p.find(_phrases(*texts)):
            found = _period_column(p, period)
            if found is None:
                raise Refusal(
                    f"“{' '.join(u.text for u in p.units[start:end])}”: the table has no date "
                    "column to group by"
                )
            p.groups.append(found)
            p.take(start, end, "group")
    for start, end in p.find(_GROUP_INTRO):
        intro = tuple(p.units[k].word for k in range(start, end))
        j = _skip(p, end, ("the", "each", "every", "different", "various", "individual", "all",
                           "their", "its", "unique", "distinct", "separate"))
        counted = p.phrase_at(j, _phrases("number of", "count of", "amount of"))
        column = p.col(counted) if counted > 0 else None
        if column is not None and _few_values(p.table, column):
            p.take(j, counted, "group")  # "by number of cylinders" groups by `Cylinders`
            j = counted
        cols = []
        while p.col(j) is not None and p.free(j) and not isinstance(p.units[j].value, Expr):
            cols.append(j)
            k = j + 1
            if k < len(p.units) and p.units[k].text == ",":
                k += 1
            if p.word(k) in ("and",) and p.col(k + 1) is not None:
                k += 1
            if k == j + 1 and p.word(k) not in ("and",):
                break
            j = k
            if p.col(j) is None:
                break
        if not cols:
            # "for each month" where the table has a date column, "by year"
            unit_period = {"year": "Y", "years": "Y", "month": "M", "months": "M",
                           "quarter": "Q", "week": "W", "day": "D", "days": "D",
                           "weekday": "weekday", "hour": "hour"}.get(p.word(j))
            if unit_period and p.free(j):
                found = _period_column(p, unit_period)
                if found is not None:
                    p.groups.append(found)
                    p.take(start, j + 1, "group")
            continue
        if intro in (("between",), ("based", "on"), ("according", "to"), ("among",),
                     ("among", "the"), ("depending", "on")):
            if not any(k in ("ttest", "anova", "difference", "chi2") for _, k, _ in
                       p.measure_words) and intro == ("between",):
                continue
            if intro != ("between",) and not _all_categorical(p, cols):
                continue
        if intro == ("by",) and any(p.table.kind(p.col(c) or "") == "number" and
                                    not _few_values(p.table, p.col(c) or "") for c in cols):
            continue  # "by revenue" orders or ranks; it does not group
        if intro in (("per",),) and p.col(start - 1) and p.table.is_numeric(
            p.col(start - 1) or ""
        ) and all(p.table.is_numeric(p.col(c) or "") and not _few_values(p.table, p.col(c) or "")
                  for c in cols):
            continue  # "price per carat" is a ratio, read by _derived
        for c in cols:
            column = p.col(c) or ""
            if any(g.column == column and g.period is None for g in p.groups):
                continue
            p.groups.append(Group(column))
            p.take(c, c + 1, "group")
        p.take(start, end, "group")
        p.take(end, cols[0], "group")
    # "the number of X in each COL", "COL-wise"
    for i in range(len(p.units)):
        if p.col(i) and p.free(i) and p.word(i + 1) in ("wise", "-wise"):
            p.groups.append(Group(p.col(i) or ""))
            p.take(i, i + 2, "group")


def _few_values(table: Table, column: str) -> bool:
    facts = table.facts(column)
    return facts.values is not None and facts.integers and len(facts.values) <= 20


def _all_categorical(p: Parse, cols: list[int]) -> bool:
    return all(p.table.kind(p.col(c) or "") in ("text", "bool") or _few_values(
        p.table, p.col(c) or "") for c in cols)


def _period_column(p: Parse, period: str) -> Group | None:
    named = [u.column for u in p.units if u.kind == "col" and p.table.kind(u.column or "") ==
             "date"]
    dates = named or p.table.date_columns
    if period == "Y":
        years = [c for c in p.table.columns if c.lower() in ("year", "yr", "years")
                 and p.table.is_numeric(c)]
        if years and not named:
            return Group(years[0])
    if len(set(dates)) != 1:
        return None
    return Group(dates[0] or "", period)


def _aggregates(p: Parse) -> None:
    # percentiles: "90th percentile", "the 25th and 75th percentiles", "quantile 0.9"
    for i, unit in enumerate(p.units):
        if unit.kind == "num" and not p.used[i]:
            end = p.phrase_at(i + 1, _phrases("percentile", "percentiles", "quantile",
                                              "quantiles", "th percentile", "% quantile"))
            if end > 0:
                value = float(unit.value)
                p.quantiles.append(value / 100 if value > 1 else value)
                p.take(i, end, "aggregate")
                p.measure_words.append((i, "aggregate", "quantile"))
                # "the 25th and 75th percentiles"
                if p.word(i - 1) == "and" and p.units[i - 2].kind == "num" and p.free(i - 2):
                    other = float(p.units[i - 2].value)
                    p.quantiles.insert(0, other / 100 if other > 1 else other)
                    p.take(i - 2, i, "aggregate")
        if p.word(i) in ("percentile", "quantile") and _number(p, i + 1) is not None:
            value = _number(p, i + 1) or 0
            p.quantiles.append(value / 100 if value > 1 else value)
            p.take(i, i + 2, "aggregate")
            p.measure_words.append((i, "aggregate", "quantile"))
    for phrase, share in _QUARTILES.items():
        for start, end in p.find([phrase]):
            p.quantiles.append(share)
            p.take(start, end, "aggregate")
            p.measure_words.append((start, "aggregate", "quantile"))
    for start, end in p.find(_phrases("quartiles", "quartile")):
        p.quantiles += [0.25, 0.5, 0.75]
        p.take(start, end, "aggregate")
        p.measure_words.append((start, "aggregate", "quantile"))
    for start, end in p.find(_phrases("number of", "count of", "amount of")):
        column = p.col(end)
        if column is not None and p.free(end) and p.table.is_numeric(column) and not isinstance(
            p.units[end].value, Expr
        ) and p.table.facts(column).integers:
            p.take(start, end, "column-words")  # "number of cylinders" is `Cylinders`
    for agg, phrases in AGG_WORDS.items():
        for start, end in p.find(phrases):
            said = tuple(p.units[k].word for k in range(start, end))
            if agg == "max" and said == ("top",) and p.limit is None:
                continue
            if agg == "count" and said == ("number", "of") and p.word(end) in (
                "missing", "null", "nan", "rows", "columns"
            ) and False:
                continue
            p.measure_words.append((start, "aggregate", agg))
            p.take(start, end, "aggregate")


_OTHER: dict[str, tuple[tuple[str, ...], ...]] = {
    "shape": _phrases("shape", "dimensions", "dimension", "size", "how big", "how large"),
    "columns": _phrases("column names", "names of the columns", "columns names", "data types",
                        "dtypes", "dtype", "data type", "schema", "structure", "types"),
    "missing": _phrases("missing values", "missing", "null values", "nulls", "nan values",
                        "nans", "na values", "empty values", "missing data", "null", "nan",
                        "missing entries", "incomplete", "blank"),
    "value_counts": _phrases("value counts", "frequency", "frequencies", "frequency table",
                             "how often", "breakdown", "tally", "occurrences", "occurrence",
                             "frequency distribution", "value_counts", "counts of each",
                             "count of each", "count for each", "counts for each",
                             "each value", "per value", "distribution"),
    "describe": _phrases("summary statistics", "descriptive statistics", "describe",
                         "summary", "summarize", "summarise", "statistics", "stats",
                         "statistical summary", "overview", "descriptive stats",
                         "summary stats", "five-number summary", "five number summary"),
    "rows": _phrases("preview", "head", "first", "show", "display", "list", "print", "view",
                     "tail", "last", "sample", "peek", "glimpse", "look like", "looks like",
                     "rows", "records", "entries"),
    "percent": _phrases("percentage", "percent", "proportion", "share", "fraction", "%",
                        "rate", "ratio", "how much of", "probability", "likelihood", "chance",
                        "percentages", "proportions"),
    "exists": _phrases("is there any", "are there any", "does any", "do any", "are any",
                       "is any", "were any", "was any", "whether any", "whether there are any",
                       "whether there is any", "check if any", "check if there are any",
                       "has any", "have any", "are there some", "is there some"),
    "plot": _phrases("plot", "chart", "graph", "histogram", "bar chart", "bar plot",
                     "scatter plot", "scatter", "line chart", "line plot", "boxplot", "box plot",
                     "pie chart", "pie", "heatmap", "heat map", "visualize", "visualise",
                     "visualization", "draw", "hist", "bar graph", "line graph", "barplot",
                     "scatterplot", "bar", "violin", "kde", "density plot"),
}


def _other_measures(p: Parse) -> None:
    if p.filters:
        for start, end in p.find(_phrases(
            "filter", "filtered", "filtering", "keep", "keep only", "select", "selecting",
            "subset", "only", "restrict", "restricted", "limit to", "look at", "consider",
            "considering", "focus on", "take", "taking", "just",
        )):
            p.take(start, end, "filter")
    for kind, phrases in _OTHER.items():
        for start, end in p.find(phrases):
            said = " ".join(p.units[k].word for k in range(start, end))
            if kind == "rows" and said in ("first", "last", "show", "display", "list", "print",
                                           "view", "rows", "records", "entries"):
                # verbs and nouns of listing are filler unless nothing else is asked
                p.measure_words.append((start, "rows-weak", said))
                continue
            if kind == "percent" and said in ("percentage", "percent", "%") and p.col(start - 1):
                column = p.col(start - 1) or ""
                if p.table.is_numeric(column) and p.table.binary(column) is None:
                    p.take(start, end, "column-words")  # "the urban percentage"
                    continue
            if kind == "percent" and said == "rate":
                before = p.col(start - 1)
                if before is None or p.table.binary(before) is None:
                    continue  # "murder rate" is a column's name, not a share of rows
            p.measure_words.append((start, kind, said))
            p.take(start, end, kind)
            if kind == "plot":
                p.plot = _plot_kind(said, p.plot)
    if any(kind == "missing" for _, kind, _ in p.measure_words):
        for start, end in p.find(_phrases(
            "in each column", "per column", "for each column", "by column", "in every column",
            "column-wise", "for every column", "across columns", "in all columns",
            "in all the columns", "of each column", "each column", "every column",
        )):
            p.take(start, end, "missing")
    for start, end in p.find(_phrases(
        "all numeric columns", "all the numeric columns", "every numeric column",
        "each numeric column", "numeric columns", "numerical columns", "all numerical columns",
        "numeric variables", "all numeric variables", "numerical variables", "all the columns",
        "every column", "each column", "all columns", "all variables", "all the variables",
        "all features", "numeric features", "all numeric features", "all numeric fields",
        "every numeric variable", "each numeric variable", "each variable", "every variable",
        "the numbers", "all the numbers", "all numeric", "all numerical",
    )):
        if not any(k == "missing" for _, k, _ in p.measure_words):
            p.take(start, end, "all-columns")
    # the rest of "how many rows and columns", "number of rows"
    for start, end in p.find(_phrases("rows and columns", "columns and rows", "columns",
                                      "number of columns", "how many columns")):
        if any(kind in ("shape", "columns") for _, kind, _ in p.measure_words) or p.word(
            start - 1) in ("many", "of") or any(d == "count" for _, _, d in p.measure_words):
            p.measure_words.append((start, "shape", "columns"))
            p.take(start, end, "shape")


def _plot_kind(said: str, current: str | None) -> str | None:
    for key, kind in (("hist", "hist"), ("scatter", "scatter"), ("line", "line"),
                      ("bar", "bar"), ("box", "box"), ("pie", "pie"), ("heat", "heatmap"),
                      ("violin", "violin"), ("kde", "kde"), ("density", "kde")):
        if key in said:
            return kind
    return current


def _binary_filters(p: Parse) -> None:
    """A yes/no column named as a condition: "passengers who survived", "did not churn"."""
    kinds = {kind for _, kind, _ in p.measure_words}
    for i, unit in enumerate(p.units):
        if unit.kind != "col" or p.used[i] or isinstance(unit.value, Expr):
            continue
        column = unit.column or ""
        binary = p.table.binary(column)
        if binary is None:
            continue
        before = {p.word(i - 1), p.word(i - 2)}
        conditional = before & {"who", "that", "which", "were", "was", "did", "have", "had",
                                "is", "are", "where", "with", "has", "whose", "got", "being"}
        if not conditional and p.word(i + 1) not in ("passengers", "customers", "people",
                                                       "rows", "ones", "cases"):
            continue
        if "percent" in kinds and not [k for k, _, _ in [(0, 0, 0)]]:
            pass
        negated = "not" in before or p.word(i - 1) in ("non", "never", "no")
        value = binary[1] if negated else binary[0]
        p.filters.append(Cond(Expr.of(column), "==", value, "text" if isinstance(
            value, str) else ("bool" if isinstance(value, bool) else "number")))
        start = i - 1 if p.word(i - 1) in ("not", "non", "never", "no") else i
        p.take(start, i + 1, "filter")


def _row_nouns(p: Parse) -> None:
    """Words naming the rows ("passengers", "cars" for cars.csv) in a row position."""
    stemmed = stem(p.table.stem)
    for i, unit in enumerate(p.units):
        if unit.kind != "word" or p.used[i]:
            continue
        w = unit.word
        if w in ROW_NOUNS or w in (p.table.stem, stemmed) or stem(w) == stemmed:
            p.take(i, i + 1, "rows")
            continue
        # "how many passengers …", "the number of customers who …", "customers with …"
        plural = w.endswith("s") and len(w) > 3 and w not in FILLER
        after = p.word(i + 1)
        if plural and i > 0 and p.used[i - 1] in ("filter", "entity") and p.units[i - 1].kind in (
            "val", "col"
        ):
            p.take(i, i + 1, "rows")  # "setosa flowers", "female passengers"
            continue
        before = (p.word(i - 2), p.word(i - 1))
        del after, before  # other plurals ("heatwaves") are not rows: they stay, and refuse


# --- assembling the query -----------------------------------------------------------------


def _assemble(p: Parse) -> Query | None:
    targets_at = [i for i in p.columns_left()]
    if p.outcome is not None and p.outcome not in targets_at and p.units[p.outcome].kind == "col":
        targets_at.insert(0, p.outcome)
    targets: list[Expr] = []
    for i in sorted(set(targets_at), key=lambda k: (k != p.outcome, k)):
        expr = _expr_at(p, i)
        if expr is not None and expr not in targets:
            targets.append(expr)
        p.take(i, i + 1, "target")
    kinds = [kind for _, kind, _ in sorted(p.measure_words)]
    measure = _measure(p, kinds, targets)
    if measure is not None and measure.kind == "plot":
        for i, unit in enumerate(p.units):
            if unit.kind == "word" and unit.word in ("vs", "versus", "against", "and", "of",
                                                     "by", "with", "over", "on") and not p.used[i]:
                p.take(i, i + 1, "plot")
    if measure is not None and measure.kind in ("correlation", "corr_matrix", "normality",
                                                "ttest", "chi2", "anova", "regression",
                                                "outliers"):
        for i, unit in enumerate(p.units):
            if unit.kind == "word" and unit.word in _TEST_GLUE and not p.used[i]:
                p.take(i, i + 1, "test-words")
    leftovers = _leftovers(p)
    if leftovers:
        said = ", ".join(f"“{w}”" for w in leftovers)
        raise Refusal(f"the words {said} (I could not read them as a column, a value, a "
                      "condition or a computation)" if len(leftovers) > 1 else
                      f"the word {said} (I could not read it as a column, a value, a condition "
                      "or a computation)", weight=2)
    loose = tuple(
        (u.text, u.column or "") for u in p.units if u.kind == "col" and u.column and u.score < 1
    )
    for u in p.units:
        if u.kind == "col" and u.column and u.others:
            choices = ", ".join(f"`{c}`" for c in (u.column, *u.others))
            raise Refusal(f"“{u.text}” could name {choices}: use the exact column name")
    columns = tuple(c for t in targets for c in t.columns())
    p.prep = [Prep(x.kind, columns, x.how, x.value) if not x.columns and x.kind in (
        "drop_outliers", "fillna") else x for x in p.prep]
    query = Query(
        table=p.table,
        measure=measure,
        targets=tuple(targets),
        filters=tuple(p.filters),
        groups=tuple(p.groups),
        prep=tuple(p.prep),
        new_columns=tuple(p.new_columns),
        notes=tuple(n for n in p.notes if n),
        loose=loose,
        extras={"decimals": p.decimals, "quantiles": tuple(p.quantiles),
                "sort_by": tuple(p.sort_by), "single": getattr(p, "single", False)},
    )
    if getattr(p, "intro", False) and measure is None and not query.filters and not targets:
        return replace(query, measure=Measure("describe"), extras={**query.extras, "intro": True})
    if measure is None and not (query.filters or query.prep or query.new_columns):
        if query.groups:
            raise Refusal("what to compute per " + ", ".join(g.name() for g in query.groups))
        return query if query.notes else None
    if measure is None and query.groups:
        raise Refusal("what to compute per " + ", ".join(g.name() for g in query.groups))
    return query


def _leftovers(p: Parse) -> list[str]:
    out: list[str] = []
    for i, unit in enumerate(p.units):
        if p.used[i]:
            continue
        if unit.kind == "word":
            if unit.word in UNITS and i > 0 and p.units[i - 1].kind == "num" and p.used[i - 1]:
                continue  # "3000 lbs": the number was read; its unit changes nothing
            if unit.word in INTRO:
                p.intro = True  # type: ignore[attr-defined]
                continue
            if unit.word in FILLER or unit.word in PRESENTATION:
                if unit.word in PRESENTATION and unit.word not in ("describe", "summary",
                                                                   "summarize", "summarise",
                                                                   "significance"):
                    p.notes.append(unit.text)
                continue
            out.append(unit.text)
        elif unit.kind in ("num", "date", "quoted"):
            out.append(unit.text)
        elif unit.kind == "val":
            if unit.weak:
                continue
            out.append(unit.text)
        elif unit.kind == "op":
            out.append(unit.text)
        # punctuation and file names: the file chooses the table, not the task
    return out


def _measure(p: Parse, kinds: list[str], targets: list[Expr]) -> Measure | None:
    """The one measure a clause asks for, from the measure words it used."""
    alpha = p.alpha if p.alpha is not None else 0.05
    tests = [k for k in kinds if k in ("normality", "ttest", "chi2", "anova", "correlation",
                                       "regression", "outliers", "difference")]
    if "drop_outliers" in kinds:
        p.prep.append(_outlier_prep(p))
        kinds = [k for k in kinds if k != "drop_outliers"]
        tests = [k for k in tests if k != "outliers"]
    if p.alpha is not None and not tests and "correlation" not in kinds:
        raise Refusal("a significance level, but no test to apply it to")
    if tests:
        distinct = list(dict.fromkeys(tests))
        generic = {"relationship", "relationships", "association", "associated", "related",
                   "relate", "relates"}
        said = {d for _, k, d in p.measure_words if k == "correlation"}
        if "correlation" in distinct and len(distinct) > 1 and said <= generic:
            distinct.remove("correlation")
        if "regression" in distinct and "correlation" in distinct:
            distinct.remove("correlation")
        if "difference" in distinct and len(distinct) > 1:
            distinct.remove("difference")
        if len(distinct) > 1:
            raise Refusal("several tests in one sentence (" + ", ".join(distinct) + "): ask for "
                          "one per sentence")
        kind = distinct[0]
        if kind == "difference":
            kind = "ttest"
        if kind == "outliers":
            method, threshold = _outlier_rule(p)
            return Measure("outliers", method=method, threshold=threshold,
                           n=p.limit)
        if kind == "correlation" and _has_word(p, "matrix"):
            _take_word(p, "matrix")
            return Measure("corr_matrix", method=p.method or "pearson", alpha=alpha)
        return Measure(kind, method=p.method, alpha=alpha)  # type: ignore[arg-type]
    if "plot" in kinds:
        return Measure("plot", plot=p.plot, aggs=tuple(_aggs(p)), n=p.limit)
    if p.entity is not None or p.row_entity or p.when_entity:
        aggs = _aggs(p)
        extreme = [a for a in aggs if a in ("max", "min")]
        if not extreme:
            raise Refusal("which extreme is asked (highest or lowest)")
        others = [a for a in aggs if a not in ("max", "min")]
        descending = extreme[0] == "max"
        return Measure("extreme", aggs=tuple(others), descending=descending,
                       entity=p.entity[1] if p.entity else ("__date__" if p.when_entity else None),
                       n=p.limit)
    if "top" in kinds or (p.limit and p.descending is not None and "sort" not in kinds):
        aggs = [a for a in _aggs(p) if a not in ("max", "min")]
        return Measure("top", aggs=tuple(aggs), n=p.limit or 10,
                       descending=p.descending if p.descending is not None else True)
    if "sort" in kinds:
        return Measure("sort", n=p.limit or 10, descending=bool(p.descending))
    if "missing" in kinds and not p.prep and not p.filters:
        return Measure("missing")
    if "exists" in kinds:
        return Measure("exists", n=p.limit)
    if "percent" in kinds:
        return Measure("percent")
    aggs = _aggs(p)
    quantiles = p.quantiles
    if "value_counts" in kinds and not [a for a in aggs if a not in ("count",)]:
        return Measure("value_counts", n=p.limit)
    if "missing" in kinds and not p.prep:
        return Measure("missing")
    if "describe" in kinds and not aggs:
        return Measure("describe")
    if aggs or quantiles:
        if aggs == ["count"] and "shape" in kinds:
            return Measure("shape")
        first = [u.word if u.kind == "word" else "" for u in p.units[:2]]
        opening = first[1] if first and first[0] in ("in", "on", "at", "for", "during") else (
            first[0] if first else "")
        if opening in ("which", "when", "who", "where") and aggs != ["count"]:
            raise Refusal("which row or group is asked for (say it as “which X has the highest "
                          "Y”, with one column X)")
        return Measure("aggregate", aggs=tuple(aggs))
    if "shape" in kinds:
        return Measure("shape")
    if "columns" in kinds:
        return Measure("columns")
    if "value_counts" in kinds:
        return Measure("value_counts", n=p.limit)
    if "describe" in kinds:
        return Measure("describe")
    if ("rows" in kinds or "rows-weak" in kinds or p.limit or p.preview) and (
        targets or p.filters or p.limit or p.preview or "rows" in kinds
    ):
            mode = p.preview or ("sample" if _has_word(p, "sample", "random") else "head")
            if _has_word(p, "tail", "last"):
                mode = "tail"
            return Measure("rows", n=p.limit, mode=mode)
    keeps = any(p.used[i] == "filter" and p.units[i].kind == "word" and p.units[i].word in (
        "keep", "filter", "filtered", "select", "subset", "only", "restrict", "consider",
        "take", "focus") for i in range(len(p.units)))
    if targets and p.filters and not p.new_columns and not keeps:
        return Measure("rows", n=p.limit, mode="lookup")  # "the murder rate in Ohio"
    if targets and not p.filters and not p.prep and not p.new_columns:
        names = ", ".join(f"`{t.name()}`" for t in targets)
        raise Refusal(f"what to compute about {names}")
    return None


def _take_word(p: Parse, word: str) -> None:
    for i, u in enumerate(p.units):
        if u.kind == "word" and u.word == word:
            p.take(i, i + 1, "measure")


def _aggs(p: Parse) -> list[str]:
    out: list[str] = []
    for _, kind, detail in sorted(p.measure_words):
        if kind == "aggregate" and detail not in out:
            out.append(detail)
    if "quantile" in out:
        out.remove("quantile")
    if "count" in out and "nunique" in out:
        out.remove("count")  # "number of distinct products" is one statistic
    return out


_Z_WORDS = frozenset({"z-score", "z-scores", "zscore", "zscores", "z", "sigma", "std", "sd",
                      "standard", "deviations", "deviation"})
_IQR_WORDS = frozenset({"iqr", "interquartile", "tukey", "quartiles", "quartile", "fences"})
_RULE_GLUE = frozenset({
    "score", "scores", "range", "rule", "method", "times", "x", "threshold", "beyond",
    "outside", "above", "more", "than", "greater", "absolute", "of", "from", "the", "mean",
    "away", "fence", "fences", "criterion", "cutoff", "cut-off", "using", "with", "by",
    "based", "on", "a", "an", "multiplier", "use", "and", "is", "as",
})
_OUTLIER_VERBS = frozenset({"detect", "detection", "find", "identify", "flag", "count", "list",
                            "remove", "removing", "without", "exclude"})


def _outlier_rule(p: Parse) -> tuple[str, float]:
    """The rule ("z-score above 3", "1.5 IQR"): only numbers and words next to its words."""
    if hasattr(p, "extras_rule"):
        rule: tuple[str, float] = p.extras_rule
        return rule
    z = _has_word(p, *_Z_WORDS - {"standard", "deviation", "deviations"}) or _has_word(
        p, "deviations")
    iqr = _has_word(p, *_IQR_WORDS)
    if z and iqr:
        raise Refusal("two outlier rules (z-score and IQR): ask for one")
    anchors = [i for i, u in enumerate(p.units)
               if u.kind == "word" and u.word in _Z_WORDS | _IQR_WORDS and not p.used[i]]
    anchors += [i for i, u in enumerate(p.units) if p.used[i] in ("outliers", "prep")
                and u.kind == "word" and "outlier" in u.word]
    threshold = None
    for anchor in sorted(set(anchors)):
        for step in (-1, 1):
            j = anchor
            while 0 <= j + step < len(p.units) and abs(j + step - anchor) <= 4:
                j += step
                unit = p.units[j]
                if p.used[j] and j not in anchors:
                    break
                if unit.kind == "num" and threshold is None:
                    threshold = float(unit.value)
                elif not (unit.kind == "op" and unit.word in (">", ">=")) and not (
                    unit.kind == "word" and unit.word in _RULE_GLUE | _Z_WORDS | _IQR_WORDS
                ):
                    break
                p.take(j, j + 1, "outliers")
        p.take(anchor, anchor + 1, "outliers")
    for i, unit in enumerate(p.units):
        if unit.kind == "word" and unit.word in _OUTLIER_VERBS and not p.used[i] and any(
            abs(i - a) <= 2 for a in anchors
        ):
            p.take(i, i + 1, "outliers")
    if z:
        return "zscore", threshold if threshold is not None else 3.0
    return "iqr", threshold if threshold is not None else 1.5


def _outlier_prep(p: Parse) -> Prep:
    method, threshold = _outlier_rule(p)
    return Prep("drop_outliers", (), method, threshold)


def keywords() -> frozenset[str]:
    """Every word of the parser's phrases: typos of these are corrected before reading."""
    out: set[str] = set()
    groups: list[Iterable[tuple[str, ...]]] = [
        *AGG_WORDS.values(), *TEST_WORDS.values(), _GROUP_INTRO, _NOTES, _SIGNIFICANT,
        _UNSUPPORTED, _LIMIT_ASC, _LIMIT_DESC, *_OTHER.values(), [p for p, _ in OPS],
    ]
    for phrases in groups:
        for phrase in phrases:
            out |= {w for w in phrase if re.fullmatch(r"[a-z][a-z\-]+", w)}
    return frozenset(out | _TEST_GLUE | {"r-squared", "intercept", "coefficient", "slope",
                                         "predictors", "dependent", "independent", "matrix"})
