"""The inspection cell: the job's input files, loaded and described in the job's own kernel.

It runs before the model is asked anything, stays in the notebook (folded, tagged
`pyexec-inspection`) so that "Run All" reloads the same DataFrames, and answers with one
display whose `application/vnd.pyexec.inspection+json` part `parse_inspection` reads back into
`FileSummary` objects and whose `text/plain` part is what a person sees.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

from pyexec.worker.agent.model import Column, FileSummary
from pyexec.worker.inputs import StagedFile
from pyexec.worker.kernel_source import kernel_source

INSPECTION_TAG = "pyexec-inspection"
INSPECTION_MIME = "application/vnd.pyexec.inspection+json"
# Folded in JupyterLab and VS Code: the source is machinery, its output is worth reading.
INSPECTION_METADATA: dict[str, Any] = {"jupyter": {"source_hidden": True}}
HEAD_ROWS = 5

_COMPRESSION = {".gz", ".bz2", ".xz", ".zip"}
# How each tabular kind is read, as the code the notebook shows.
_READERS = {
    ".csv": "pd.read_csv",
    ".tsv": 'lambda path: pd.read_csv(path, sep="\\t")',
    ".tab": 'lambda path: pd.read_csv(path, sep="\\t")',
    ".jsonl": "lambda path: pd.read_json(path, lines=True)",
    ".ndjson": "lambda path: pd.read_json(path, lines=True)",
    # Engines named: with python-calamine installed (for .xls), pandas would warn on .xlsx
    # that its default engine is to change.
    ".xlsx": 'lambda path: pd.read_excel(path, engine="openpyxl")',
    ".xlsm": 'lambda path: pd.read_excel(path, engine="openpyxl")',
    ".xls": 'lambda path: pd.read_excel(path, engine="calamine")',
    ".parquet": "pd.read_parquet",
    ".pq": "pd.read_parquet",
}
# Only text formats may come compressed (pandas infers the codec from the name).
_COMPRESSIBLE = {".csv", ".tsv", ".tab", ".jsonl", ".ndjson"}

# What the cell defines before it loads the files: kernel/inspection.py, shown as it is
# (a blank line, then the loading).
_PRELUDE = kernel_source("inspection") + "\n"


def tabular_suffix(name: str) -> str | None:
    """The suffix that says how to read `name` as a table (".csv" for "a.csv.gz"), if any."""
    suffixes = [s.lower() for s in PurePath(name).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes.pop()
        if not suffixes or suffixes[-1] not in _COMPRESSIBLE:
            return None
    if suffixes and suffixes[-1] in _READERS:
        return suffixes[-1]
    return None


def _identifier(stem: str) -> str:
    name = re.sub(r"\W+", "_", stem.lower(), flags=re.ASCII).strip("_") or "data"
    return name


def table_variables(names: Sequence[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """The DataFrame variable for each tabular file: `df` for a lone one, else `df_<stem>`."""
    used = set(taken)
    tabular = [n for n in names if tabular_suffix(n) is not None]
    variables: dict[str, str] = {}
    if len(tabular) == 1 and "df" not in used:
        return {tabular[0]: "df"}
    for name in tabular:
        stem = PurePath(name).name.split(".")[0]
        base = f"df_{_identifier(stem)}"
        candidate, n = base, 2
        while candidate in used or keyword.iskeyword(candidate):
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate)
        variables[name] = candidate
    return variables


def inspection_code(files: Sequence[StagedFile], taken: Iterable[str] = ()) -> str:
    """The cell's source. `taken`: variables the kernel already holds (a follow-up's parent)."""
    names = [f.name for f in files]
    variables = table_variables(names, taken)
    lines = [_PRELUDE, "_inputs = []"]
    for name in names:
        variable = variables.get(name)
        if variable is None:
            lines.append(f"_, _info = _pyexec_inspect({name!r})")
        else:
            reader = _READERS[tabular_suffix(name) or ""]
            lines.append(f"{variable}, _info = _pyexec_inspect({name!r}, {variable!r}, {reader})")
        lines.append("_inputs.append(_info)")
    lines.append("_pyexec_report(_inputs)")
    return "\n".join(lines) + "\n"


def parse_inspection(outputs: Iterable[dict[str, Any]]) -> list[FileSummary] | None:
    """The summaries in an inspection cell's outputs; None when the cell produced none."""
    for output in outputs:
        data = output.get("data") or {}
        if output.get("output_type") == "display_data" and INSPECTION_MIME in data:
            return [_summary(item) for item in data[INSPECTION_MIME] if isinstance(item, dict)]
    return None


def _summary(item: dict[str, Any]) -> FileSummary:
    table = item.get("kind") == "table"
    return FileSummary(
        name=str(item.get("name", "")),
        bytes=int(item.get("bytes") or 0),
        kind="table" if table else "other",
        variable=item.get("variable") if table else None,
        columns=tuple(
            Column(str(c.get("name")), str(c.get("dtype"))) for c in item.get("columns") or []
        ),
        rows=int(item["rows"]) if table and item.get("rows") is not None else None,
        head=tuple(r for r in item.get("head") or [] if isinstance(r, dict)),
        error=item.get("error"),
    )
