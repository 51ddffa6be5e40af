"""A whole request → its steps: one query per clause, on the table it is about, with the state
(conditions, preparation, new columns) that earlier clauses set carried into later ones.

Any clause that refuses makes the whole request refuse: answering the rest would present
numbers for a request that was not the one asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import PurePath

from pyexec.worker.agent.model import Column
from pyexec.worker.agent.planner.columns import stem
from pyexec.worker.agent.planner.compiler import State, compile_query, state_cell
from pyexec.worker.agent.planner.lexer import Token, split_clauses, tokens
from pyexec.worker.agent.planner.parser import PlanError, Refusal, keywords, parse_clause
from pyexec.worker.agent.planner.query import Measure, Query
from pyexec.worker.agent.planner.tables import Table
from pyexec.worker.agent.planner.units import build_units

CAPABILITIES = """\
Without a language model, PyExec's offline planner answers requests like these, on the \
columns of the job's tables, under any conditions ("where price > 100 and region is West", \
"above the average fee", "in 2008") and per group ("for each region", "per month"):
- rows and shape: "show the first 10 rows", "how many rows and columns?", \
"top 10 rows by revenue", "sort by date descending"
- statistics: "mean, median and std of all numeric columns", "90th percentile of revenue", \
"total revenue by region", "the most common city", "how many orders were returned?"
- extremes: "which region has the highest total revenue?"
- shares and checks: "what percentage of passengers survived?", "are there any negative prices?"
- missing values and outliers: "missing values per column", "outliers in price by IQR", \
"mean price after removing outliers", "fill missing age with the median"
- derived columns: "mean of price - cost", "log of income", "year of the order date"
- tests: "Pearson (Spearman, Kendall) correlation between units and revenue, with its p-value", \
"is revenue normally distributed (Shapiro-Wilk)?", "t-test of fare between men and women", \
"chi-square test of sex and survived", "ANOVA of price across regions"
- linear regression: "regress price on carat and depth"
- plots: "histogram of revenue", "bar chart of revenue by region", "scatter plot of units vs \
revenue"
For anything else, configure a language model: set OPENAI_API_KEY (and OPENAI_BASE_URL for \
another OpenAI-compatible server) and PYEXEC_LLM_MODEL."""

_IF_SO = re.compile(
    r"^(?:if\s+(?:so|yes|there\s+(?:are|is)(?:\s+any)?|any|it\s+(?:is|does)|they\s+(?:are|do)|"
    r"true|that\s+is\s+the\s+case))\b[\s,:]*",
    re.I,
)
_PRONOUN = re.compile(r"\b(?:it|its|them|this|these|those|they|their|the result)\b", re.I)


@dataclass(frozen=True)
class Step:
    query: Query
    code: str
    kind: str  # the measure's kind, or "state"
    clause: str
    thresholds: tuple[tuple[str, str], ...] = ()  # numbers a condition compares with


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # presentation parts not done
    covered: list[str] = field(default_factory=list)  # "if so" clauses the step before answers
    skipped: list[str] = field(default_factory=list)  # "ignore missing values": done by all


@cache
def _keywords() -> frozenset[str]:
    return keywords()


def _named_tables(toks: list[Token], tables: list[Table]) -> list[Table]:
    said = {t.text.lower() for t in toks if t.kind in ("file", "quoted")}
    out = []
    for table in tables:
        full = PurePath(table.name).name.lower()
        if full in said or table.stem in said:
            out.append(table)
    return out


def _score(toks: list[Token], table: Table) -> float:
    units = build_units(toks, table, _keywords())
    named = any(u.kind == "word" and stem(u.word) == stem(table.stem) for u in units)
    return sum(u.score for u in units if u.kind in ("col", "val")) + (0.5 if named else 0.0)


def _columns_listing(tables: list[Table]) -> str:
    return "\n".join(
        f"- {t.name}: " + ", ".join(f"{c} ({t.dtypes[c]})" for c in t.columns) for t in tables
    )


def refuse(clause: str, refusal: Refusal, tables: list[Table]) -> PlanError:
    part = str(refusal)
    if "beyond the offline planner" in part:
        head = f"{part[0].upper()}{part[1:]} (in “{clause}”)."
    else:
        head = f"The offline planner cannot answer “{clause}” exactly. Not understood: {part}."
    return PlanError(
        f"{head} It answers nothing rather than a number for a different question.\n\n"
        f"Columns:\n{_columns_listing(tables)}\n\n{CAPABILITIES}"
    )


def _with_columns(table: Table, added: list[str]) -> Table:
    if not added:
        return table
    summary = table.summary
    columns = (*summary.columns, *(Column(name, "float64") for name in added))
    return Table(replace(summary, columns=columns), table.profile, table.rows)


def plan(prompt: str, tables: list[Table]) -> Plan:
    """The steps for `prompt`, in order; PlanError names the part that cannot be done."""
    if not tables:
        raise PlanError("no tables")
    result = Plan()
    states = {t.variable: State(t.variable) for t in tables}
    added: dict[str, list[str]] = {t.variable: [] for t in tables}
    frames = {
        t.variable: ("data" if len(tables) == 1 else f"data_{t.variable.removeprefix('df_')}")
        for t in tables
    }
    previous: Query | None = None
    clauses, skipped = _preparation_first(_merged(split_clauses(prompt), tables), tables)
    result.skipped += skipped
    for raw in clauses:
        if_so = _IF_SO.match(raw)
        clause = raw[if_so.end() :] if if_so else raw
        if not clause.strip(" ,.?"):
            continue
        toks = tokens(clause)
        candidates = _named_tables(toks, tables) or tables
        current = [_with_columns(t, added[t.variable]) for t in candidates]
        parsed: list[tuple[float, Table, Query | None]] = []
        refused: list[tuple[float, Table, Refusal]] = []
        for table in current:
            score = _score(toks, table)
            try:
                query = parse_clause(toks, table, _keywords())
            except Refusal as refusal:
                refused.append((score + refusal.weight * 0.01, table, refusal))
                continue
            parsed.append((score, table, query))
        best_score = max([s for s, _, _ in parsed] + [s for s, _, _ in refused], default=0.0)
        answers = [(s, t, q) for s, t, q in parsed if s >= best_score - 1e-9]
        if not answers:
            _, table, closest = max(refused, key=lambda r: r[0])
            raise refuse(clause, closest, tables)
        _, table, query = answers[0]
        if len(answers) > 1 and best_score > 0:
            names = ", ".join(f"`{t.name}`" for _, t, _ in answers)
            raise refuse(clause, Refusal(f"which of {names} the request is about (name the "
                                         "file)"), tables)
        if query is None:
            continue
        if query.measure is None and not (query.filters or query.prep or query.new_columns):
            result.notes += [n for n in query.notes if n not in result.notes]
            continue  # "and interpret the results": said at the top of the answer
        query = replace(query, extras={**query.extras, "text": clause})
        if if_so and previous is not None:
            if _answered_before(query, previous):
                result.covered.append(raw)
                continue
            if previous.measure is not None and previous.measure.kind == "exists":
                query = replace(query, filters=previous.filters + query.filters)
        if (
            query.measure is not None
            and not query.targets
            and previous is not None
            and previous.table.variable == query.table.variable
            and previous.targets
            and query.measure.kind not in ("shape", "columns", "missing", "rows", "exists",
                                           "percent", "corr_matrix", "describe")
            and not (query.measure.kind == "aggregate" and query.measure.aggs == ("count",))
        ):
            # "… and compute the average", "plot it": about what the clause before named
            query = replace(query, targets=previous.targets, groups=query.groups or previous.groups)
        variable = query.table.variable
        state = states[variable]
        query = replace(query, extras={**query.extras, "state_said": list(state.said)})
        result.notes += [n for n in query.notes if n not in result.notes]
        step_number = len(result.steps) + 1
        try:
            if query.measure is None:
                frame = frames[variable]
                code, found = state_cell(query, state, frame, step_number)
                result.steps.append(Step(query, code, "state", clause, tuple(found)))
                said = [c.describe() for c in query.filters]
                said += [p.describe() for p in query.prep]
                said += [f"`{n}` = {e.name()}" for n, e in query.new_columns]
                states[variable] = State(frame, [*state.said, *said])
                added[variable] += [n for n, _ in query.new_columns]
            else:
                if query.new_columns:
                    raise Refusal("a new column and a computation in one sentence (create the "
                                  "column in its own sentence)")
                code, kind, found = compile_query(query, state, step_number)
                result.steps.append(Step(query, code, kind, clause, tuple(found)))
        except Refusal as refusal:
            raise refuse(clause, refusal, tables) from None
        previous = query
    if len(result.steps) > 1:
        # "Analyze the file and return the top 10 rows": the rows are what was asked.
        result.steps = [s for s in result.steps if not s.query.extras.get("intro")]
        result.steps = [
            replace(s, code=s.code.replace('"step": ' + _step_of(s), '"step": ' + str(n + 1), 1))
            for n, s in enumerate(result.steps)
        ]
    last = result.steps[-1] if result.steps else None
    if last is not None and last.kind == "state":
        # The request ends by choosing rows: show them, with how many there are.
        query = replace(last.query, measure=Measure("rows", mode="head"))
        rows_state = State(last.query.table.variable) if len(result.steps) == 1 else None
        if rows_state is not None:
            code, kind, found = compile_query(query, rows_state, len(result.steps))
            result.steps[-1] = Step(query, code, kind, last.clause, tuple(found))
    if not result.steps:
        raise PlanError(
            "The request does not ask for anything the offline planner can compute.\n\n"
            f"Columns:\n{_columns_listing(tables)}\n\n{CAPABILITIES}"
        )
    return result


_METHOD_WORDS = re.compile(
    r"\b(?:test|tests|alpha|level|significance|p-?values?|coefficients?|method|pearson|"
    r"spearman|kendall|shapiro|wilk|agostino|dagostino|welch|student|iqr|z-?scores?|anova|"
    r"chi|t-test|ttest|regression|normality|two-tailed|two-sided|confidence)\b",
    re.I,
)


def _merged(clauses: list[str], tables: list[Table]) -> list[str]:
    """"Is x normal? Use the Shapiro-Wilk test at alpha 0.05": the second sentence only says
    how to do the first, so they are read as one."""
    out: list[str] = []
    for clause in clauses:
        toks = tokens(clause)
        names_columns = any(
            u.kind in ("col", "val") for t in tables for u in build_units(toks, t, _keywords())
        )
        if out and not names_columns and _METHOD_WORDS.search(clause) and not _IF_SO.match(
            clause
        ):
            out[-1] = f"{out[-1]}, {clause}"
            continue
        out.append(clause)
    return out


def _step_of(step: Step) -> str:
    match = re.search(r'"step": (\d+)', step.code)
    return match[1] if match else "0"


def _preparation_first(
    clauses: list[str], tables: list[Table]
) -> tuple[list[str], list[str]]:
    """"Mean of x. Fill missing x with the median.": preparation said after the computations
    (no condition of its own) is for all of them, so it moves first. "Ignore missing values"
    naming no column asks what every computation does already (each leaves out its own
    missing values and says how many rows it used): it is answered, not run."""
    trailing: list[str] = []
    skipped: list[str] = []
    while len(clauses) > len(trailing) + len(skipped) + 1:
        clause = clauses[-1 - len(trailing) - len(skipped)]
        try:
            queries = [parse_clause(tokens(clause), t, _keywords()) for t in tables]
        except Refusal:
            break
        found = [q for q in queries if q is not None]
        if not found or not all(
            q.measure is None and q.prep and not q.filters and not q.new_columns for q in found
        ):
            break
        if all(p.kind == "dropna" and not p.columns for q in found for p in q.prep):
            skipped.insert(0, clause)
        else:
            trailing.insert(0, clause)
    kept = clauses[: len(clauses) - len(trailing) - len(skipped)]
    return trailing + kept, skipped


def _answered_before(query: Query, previous: Query) -> bool:
    """"Are there any X? If so, how many / which ones": the step before already says both."""
    if previous.measure is None or previous.measure.kind not in ("exists", "missing", "outliers"):
        return False
    measure = query.measure
    if measure is None:
        return not (query.filters or query.prep)
    if query.filters or query.prep or query.groups:
        return False
    if measure.kind in ("rows", "exists"):
        return not query.targets or query.targets == previous.targets
    if measure.kind == "aggregate" and measure.aggs == ("count",):
        return not query.targets or query.targets == previous.targets
    return measure.kind == previous.measure.kind and not query.targets
