# PyExec loaded the job's input files and described them for the analysis below.
import json
import os

import pandas as pd  # noqa: F401 - the cell's loading lines read with pd
from IPython.display import display


def _pyexec_inspect(name, variable=None, read=None):
    """Load one input file: (the DataFrame or None, what was found out about it)."""
    info = {"name": name, "bytes": os.path.getsize(name), "kind": "other"}
    if read is None:
        return None, info
    try:
        frame = read(name)
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        return None, info
    try:
        rows = frame.head(5)
        head = json.loads(rows.to_json(orient="records", date_format="iso", default_handler=str))
    except ValueError:  # duplicate column names cannot become records
        head = []
    info.update(
        kind="table",
        variable=variable,
        rows=len(frame),
        columns=[{"name": str(c), "dtype": str(t)} for c, t in frame.dtypes.items()],
        head=head,
    )
    return frame, info


def _pyexec_report(files):
    lines = []
    for f in files:
        size = f"{f['bytes']:,} bytes"
        if f["kind"] == "table":
            shape = f"{f['rows']:,} rows x {len(f['columns'])} columns"
            lines.append(f"{f['name']} ({size}) -> {f['variable']}: {shape}")
            lines += [f"    {c['name']}: {c['dtype']}" for c in f["columns"]]
        elif "error" in f:
            lines.append(f"{f['name']} ({size}): not readable as a table: {f['error']}")
        else:
            lines.append(f"{f['name']} ({size})")
    display(
        {"text/plain": "\n".join(lines), "application/vnd.pyexec.inspection+json": files},
        raw=True,
    )
