"""Splitting submitted code into notebook cells."""

from __future__ import annotations

import re

# The percent format that VS Code, Spyder and jupytext understand: a line `# %%` starts a cell.
_CELL_MARKER = re.compile(r"^# ?%%.*$", re.MULTILINE)


def split_cells(code: str) -> list[str]:
    parts = [p.strip("\n") for p in _CELL_MARKER.split(code)]
    cells = [p for p in parts if p.strip()]
    return cells or [code]
