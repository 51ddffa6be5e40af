"""Tables for the planner's unit tests, described the way a job's kernel describes them: the
inspection's dtypes and first rows, and the facts of the planner's own profile code (run here,
in-process, on the same CSV)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pandas as pd

from pyexec.worker.agent.model import Column, FileSummary
from pyexec.worker.agent.planner.kernel_code import profile_cell
from pyexec.worker.agent.planner.tables import Table, with_profile

DATA = Path(__file__).resolve().parents[1] / "data"


@cache
def _profiler() -> object:
    namespace: dict[str, object] = {}
    exec(profile_cell(["df"]).split("# What the values")[0], namespace)
    return namespace["_pyexec_profile"]


def table(name: str, variable: str = "df") -> Table:
    frame = pd.read_csv(DATA / name)
    head = json.loads(frame.head(5).to_json(orient="records", date_format="iso"))
    summary = FileSummary(
        name=name,
        bytes=(DATA / name).stat().st_size,
        kind="table",
        variable=variable,
        columns=tuple(Column(str(c), str(t)) for c, t in frame.dtypes.items()),
        rows=len(frame),
        head=tuple(head),
    )
    profile = _profiler()({variable: frame})[variable]  # type: ignore[operator]
    return with_profile(summary, profile)
