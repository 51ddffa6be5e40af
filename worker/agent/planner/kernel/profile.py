"""The planner's first cell: what the values of each table's columns look like.

Column names and dtypes (from the inspection cell) are not enough to read a request honestly:
"orders that were returned" needs to know that `status` holds "Returned", and a text column
of numbers with notes ("630308[495000-801000]") must be refused, not silently coerced. The
cell defines `_pyexec_profile` and calls it on the job's tables (the part after `CELL`).
"""

import json
import re
from typing import Any

import pandas as pd
from IPython.display import display

MAX_VALUES = 200  # a text column with more distinct values is described, not listed
NA_WORDS = {"", "na", "n/a", "nan", "none", "null", "nil", "-", "--", "?", "unknown", "missing"}
MIME = "application/vnd.pyexec.profile+json"
# What a date looks like before pandas is asked to parse it (parsing is the slow part).
DATE_LIKE = (
    r"^\s*(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2} [A-Za-z]{3,9}\.? \d{4})"
)
TABLES: dict[str, pd.DataFrame] = {}  # the cell names the job's DataFrames here


def _pyexec_profile(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """{variable: {"rows": n, "columns": {name: facts}}} for the DataFrames in `tables`."""
    out: dict[str, dict[str, Any]] = {}
    for variable, frame in tables.items():
        columns: dict[str, dict[str, Any]] = {}
        for name in frame.columns:
            values = frame[name]
            if isinstance(values, pd.DataFrame):
                continue  # a duplicated column name: the planner refuses to guess which
            present = values.dropna()
            facts: dict[str, Any] = {
                "missing": int(values.isna().sum()), "distinct": int(present.nunique())
            }
            numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(
                values
            )
            if numeric:
                facts["integers"] = bool((present == present.round()).all())
                if facts["distinct"] <= 20:
                    facts["values"] = sorted(float(v) for v in present.unique())
            elif pd.api.types.is_datetime64_any_dtype(values):
                facts["dates"] = True
            else:
                # Each distinct value is looked at once, in plain Python: fast for the usual
                # few categories, and linear for columns of names.
                text = present.astype(str).str.strip()
                counts = text.value_counts()
                facts["distinct"] = len(counts)
                numbers = na_words = 0
                not_numbers = []
                if len(counts) > MAX_VALUES:  # names, ids, notes: vectorised
                    parsed = pd.to_numeric(text, errors="coerce")
                    na = text.str.lower().isin(NA_WORDS)
                    numbers, na_words = int(parsed.notna().sum()), int(na.sum())
                    not_numbers = text[parsed.isna() & ~na].head(3).tolist()
                    counts = counts.iloc[:0]
                else:
                    facts["values"] = sorted(v[:80] for v in counts.index)
                for value, n in zip(counts.index.tolist(), counts.tolist(), strict=True):
                    if value.lower() in NA_WORDS:
                        na_words += int(n)
                        continue
                    try:
                        float(value)
                    except ValueError:
                        if len(not_numbers) < 3:
                            not_numbers.append(value)
                        continue
                    numbers += int(n)
                facts.update(numbers=numbers, na_words=na_words, not_numbers=not_numbers)
                sample = [str(v).strip() for v in present.head(20).tolist()]
                if not numbers and sample and all(re.match(DATE_LIKE, v) for v in sample):
                    dates = pd.to_datetime(pd.Series(sample), errors="coerce", format="mixed")
                    facts["date_like"] = bool(dates.notna().all())
            columns[str(name)] = facts
        out[variable] = {"rows": len(frame), "columns": columns}
    return out


# --- cell ---
# What the values of each column look like: the planner reads the request against them.
_profile = _pyexec_profile(TABLES)
_seen = {v: f"{p['rows']} rows, {len(p['columns'])} columns profiled" for v, p in _profile.items()}
display({"text/plain": json.dumps(_seen), MIME: _profile}, raw=True)
