"""The planner's first cell: what the values of each table's columns look like.

Column names and dtypes (from the inspection cell) are not enough to read a request honestly:
"orders that were returned" needs to know that `status` holds "Returned", and a text column
of numbers with notes ("630308[495000-801000]") must be refused, not silently coerced. The
cell defines `_pyexec_profile` and calls it on the job's tables (the part after `CELL`).
"""

import json

import pandas as pd
from IPython.display import display

MAX_VALUES = 200  # a text column with more distinct values is described, not listed
NA_WORDS = {"", "na", "n/a", "nan", "none", "null", "nil", "-", "--", "?", "unknown", "missing"}
MIME = "application/vnd.pyexec.profile+json"
TABLES: dict = {}  # the cell names the job's DataFrames here


def _pyexec_profile(tables):
    """{variable: {"rows": n, "columns": {name: facts}}} for the DataFrames in `tables`."""
    out = {}
    for variable, frame in tables.items():
        columns = {}
        for name in frame.columns:
            values = frame[name]
            if isinstance(values, pd.DataFrame):
                continue  # a duplicated column name: the planner refuses to guess which
            present = values.dropna()
            facts = {"missing": int(values.isna().sum()), "distinct": int(present.nunique())}
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
                text = present.astype(str).str.strip()
                if facts["distinct"] <= MAX_VALUES:
                    facts["values"] = sorted(v[:80] for v in text.unique().tolist())
                parsed = pd.to_numeric(text, errors="coerce")
                facts["numbers"] = int(parsed.notna().sum())
                unread = text[parsed.isna()]
                facts["na_words"] = int(unread.str.lower().isin(NA_WORDS).sum())
                facts["not_numbers"] = unread[~unread.str.lower().isin(NA_WORDS)].head(3).tolist()
                sample = text.head(50)
                if facts["numbers"] == 0 and len(text) and sample.str.contains(r"\d").all():
                    dates = pd.to_datetime(sample, errors="coerce", format="mixed")
                    facts["date_like"] = bool(dates.notna().mean() > 0.95)
            columns[str(name)] = facts
        out[variable] = {"rows": len(frame), "columns": columns}
    return out


# --- cell ---
# What the values of each column look like: the planner reads the request against them.
_profile = _pyexec_profile(TABLES)
display({"text/plain": json.dumps(_profile)[:2000], MIME: _profile}, raw=True)
