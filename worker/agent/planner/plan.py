"""A whole request → the recipes to run, one per task it asks for, on the right tables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

from worker.agent.model import FileSummary
from worker.agent.planner.code import q
from worker.agent.planner.intents import PlanError, overview_for, recipe_for
from worker.agent.planner.reading import Reading, read
from worker.agent.planner.recipes.base import Recipe
from worker.agent.planner.recipes.rows import Preview, Sort
from worker.agent.planner.tables import Table
from worker.agent.planner.text import Lexeme, lex, split_clauses
from worker.agent.planner.vocabulary import FILLER, unused_words

CAPABILITIES = """\
Without a language model, PyExec's offline planner answers requests like these, on the \
columns of the job's tables:
- preview: "show the first 10 rows"
- shape and columns: "how many rows and columns?", "list the columns and their types"
- summary statistics: "mean, median and std of all numeric columns", "quartiles of revenue"
- top/bottom N: "top 10 rows by revenue", "the 5 products with the lowest total units"
- sorting: "sort by date descending"
- filtering: "rows where revenue > 1000", "orders in the West region"
- group-by: "total revenue by region", "average units per product", "number of orders per month"
- value counts: "value counts of region"
- missing values: "missing values per column"
- correlation: "correlation between units and revenue", "correlation matrix"
- plots: "histogram of revenue", "bar chart of revenue by region", \
"line chart of revenue over time", "scatter plot of units vs revenue"
For anything else, configure a language model: set OPENAI_API_KEY (and OPENAI_BASE_URL for \
another OpenAI-compatible server) and PYEXEC_LLM_MODEL."""


_REFERS_BACK = re.compile(r"\b(?:it|them|this|that|these|those|the result|the same)\b", re.I)


@dataclass(frozen=True)
class Planned:
    recipe: Recipe
    loose_names: tuple[tuple[str, str], ...] = ()  # (words said, column) matched loosely
    unused: tuple[str, ...] = ()  # words of the request no rule read, as written


def _named_tables(lexemes: list[Lexeme], tables: list[Table]) -> list[Table]:
    names = [lx.text.lower() for lx in lexemes if lx.kind in ("file", "quoted")]
    named = []
    for table in tables:
        full = PurePath(table.name).name.lower()
        if any(n == full or n == table.stem for n in names):
            named.append(table)
    return named


def _is_filler(lexemes: list[Lexeme]) -> bool:
    words = [lx.text.lower() for lx in lexemes if lx.kind == "word"]
    return all(w in FILLER for w in words)


def _columns_listing(tables: list[Table]) -> str:
    return "\n".join(
        f"- {t.name}: " + ", ".join(f"{c} ({t.dtypes[c]})" for c in t.columns) for t in tables
    )


def _unknown_words(readings: list[Reading]) -> list[str]:
    best = max(readings, key=lambda r: r.score)
    words = re.findall(r"[a-z][a-z_]+", best.template)
    return [w for w in dict.fromkeys(words) if w not in FILLER and len(w) > 2]


def plan(prompt: str, files: list[FileSummary]) -> list[Planned]:
    """The recipes for `prompt`, in order; PlanError when part of it cannot be mapped."""
    tables = [Table(f) for f in files if f.kind == "table" and f.variable]
    if not tables:
        unreadable = [f"{f.name} ({f.error})" for f in files if f.error]
        detail = f" ({'; '.join(unreadable)})" if unreadable else ""
        raise PlanError(
            "The offline planner works on tables (CSV, TSV, Excel, Parquet, JSON lines) and "
            f"this job has none{detail}: upload a file (POST /v1/files) and list its id in the "
            f"job's file_ids.\n\n{CAPABILITIES}"
        )
    planned: list[Planned] = []
    general: list[Planned] = []
    previous: Table | None = None  # the table the last clause was about
    said_before = ""  # the last clause that asked for something
    for clause in split_clauses(prompt):
        lexemes = lex(clause)
        named = _named_tables(lexemes, tables)
        readings = [read(lexemes, t) for t in (named or tables)]
        if said_before and all(r.score == 0 for r in readings) and _REFERS_BACK.search(clause):
            # "… total revenue by region and plot it as a bar chart": "it" is that table.
            lexemes = lex(f"{said_before} {clause}")
            readings = [read(lexemes, t) for t in (named or tables)]
        if not named and previous is not None and all(r.score == 0 for r in readings):
            # "sort by revenue and show the first 20": the second part is about the same table.
            readings = [r for r in readings if r.table == previous]
            named = [previous]
        found, errors = _recipes(readings)
        if found:
            spelled = {lx.text.lower(): lx.text for lx in lexemes if lx.kind == "word"}
            chosen = _choose(found, spread=not named, spelled=spelled)
            planned += chosen
            said_before = clause
            previous = chosen[0].recipe.table if len(chosen) == 1 else None
            continue
        overviews = [(r, o) for r in readings if (o := overview_for(r)) is not None]
        if overviews:
            general += _choose(overviews, spread=not named, spelled={})
        elif errors:
            raise PlanError(f"{errors[0]}\n\n{CAPABILITIES}")
        elif not _is_filler(lexemes):
            unknown = _unknown_words(readings)
            hint = f" (words I could not place: {', '.join(unknown)})" if unknown else ""
            raise PlanError(
                f"The offline planner cannot map “{clause}” onto the job's files{hint}.\n\n"
                f"Columns:\n{_columns_listing(tables)}\n\n{CAPABILITIES}"
            )
    if not planned:
        planned = general
    if not planned:
        raise PlanError(
            f"The request does not ask for anything the offline planner can do.\n\n"
            f"Columns:\n{_columns_listing(tables)}\n\n{CAPABILITIES}"
        )
    return _tidy(planned)


def _recipes(
    readings: list[Reading],
) -> tuple[list[tuple[Reading, Recipe]], list[PlanError]]:
    """Each table's recipe for the clause, or why there is none.

    When the table whose columns the clause names best has no recipe, the others are not
    asked: answering from a table that fits worse would answer another question.
    """
    found: list[tuple[Reading, Recipe]] = []
    errors: list[tuple[Reading, PlanError]] = []
    for reading in readings:
        try:
            recipe = recipe_for(reading)
        except PlanError as exc:
            errors.append((reading, exc))
            continue
        if recipe is not None:
            found.append((reading, recipe))
    best = max(readings, key=lambda r: r.score)
    if found and best.score > max(r.score for r, _ in found):
        return [], [e for r, e in errors if r is best]
    return found, [e for _, e in errors]


def _choose(
    found: list[tuple[Reading, Recipe]], spread: bool, spelled: dict[str, str]
) -> list[Planned]:
    """The table that fits the clause best; every table when the clause names no column."""
    best_reading, best_recipe = max(found, key=lambda pair: pair[0].score)
    unused = tuple(spelled.get(w, w) for w in unused_words(best_reading.template))
    if spread and best_reading.score == 0 and len(found) > 1:
        return [Planned(recipe, (), unused) for _, recipe in found]
    code = best_recipe.code()
    used = tuple((said, c) for said, c in best_reading.matched_loosely if q(c) in code)
    return [Planned(best_recipe, used, unused)]


def _tidy(planned: list[Planned]) -> list[Planned]:
    """Drop repeats; "sort by date and show the first 20" shows 20 of the sorted rows."""
    out: list[Planned] = []
    codes: set[str] = set()
    for item in planned:
        recipe = item.recipe
        previous = out[-1].recipe if out else None
        if (
            isinstance(recipe, Preview)
            and recipe.mode == "head"
            and isinstance(previous, Sort)
            and previous.table == recipe.table
        ):
            out[-1] = Planned(
                Sort(
                    previous.table, previous.where, previous.columns, previous.ascending, recipe.n
                ),
                out[-1].loose_names,
                out[-1].unused + item.unused,
            )
            continue
        code = recipe.code()
        if code in codes:
            continue
        codes.add(code)
        out.append(item)
    return out
