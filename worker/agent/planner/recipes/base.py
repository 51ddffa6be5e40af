"""A recipe: one analysis step, the pandas code that does it, and how to read its result.

Every generated cell ends by displaying the numbers the answer will quote as
`application/json` (with a `"planner"` key naming the recipe); the planner reads them back
from the step's outputs. The answer never states a number the kernel did not compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from worker.agent.planner.conditions import Condition, combined_mask
from worker.agent.planner.tables import Table

RESULT_KEY = "planner"

_FOOTER = """\
# The numbers the answer quotes, displayed as JSON to be read back as computed here
# (pandas' encoder writes NaN as null and handles numpy numbers and dates).
result = json.loads(pd.Series(result, dtype=object).to_json(date_format="iso", default_handler=str))
display({"application/json": result, "text/plain": json.dumps(result)}, raw=True)"""


@dataclass(frozen=True)
class Recipe:
    table: Table
    where: tuple[Condition, ...] = ()

    kind: ClassVar[str] = ""
    plots: ClassVar[bool] = False  # needs matplotlib

    # --- what each recipe says -------------------------------------------------------------

    def title(self) -> str:
        """One line for the code's first comment, e.g. "Top 10 rows by revenue"."""
        raise NotImplementedError

    def intent(self) -> str:
        """Markdown for the step's prose, e.g. "the 10 rows with the largest `revenue`"."""
        raise NotImplementedError

    def body(self, frame: str) -> tuple[list[str], list[tuple[str, str]]]:
        """The code over `frame`, and the (key, expression) pairs of its result."""
        raise NotImplementedError

    def answer(self, data: dict[str, Any]) -> str:
        """Markdown from the numbers read back from the kernel."""
        raise NotImplementedError

    def extra_imports(self) -> tuple[str, ...]:
        return ()

    # --- shared -----------------------------------------------------------------------------

    @property
    def source_name(self) -> str:
        return self.table.name

    def where_text(self) -> str:
        return " and ".join(c.describe() for c in self.where)

    def scope(self) -> str:
        """`sales.csv`, or `sales.csv` (rows where `region` is "West")."""
        if not self.where:
            return f"`{self.source_name}`"
        return f"`{self.source_name}` (rows where {self.where_text()})"

    def code(self) -> str:
        frame = self.table.variable
        extra = list(self.extra_imports())
        if self.plots:
            extra.append("import matplotlib.pyplot as plt")
        third_party = sorted(set(extra) | {"import pandas as pd"}, key=_import_order)
        imports = ["import json", "", *third_party, "from IPython.display import display"]
        lines = [f"# {self.title()} ({self.source_name})", *imports, ""]
        entries: list[tuple[str, str]] = [
            (RESULT_KEY, f'"{self.kind}"'),
            ("file", f'"{self.source_name}"'),
            ("rows_in_file", f"len({frame})"),
        ]
        if self.where:
            lines.append(f"# Only the rows where {_plain(self.where_text())}.")
            lines.append(f"subset = {frame}[{combined_mask(self.where, self.table, frame)}]")
            lines.append("")
            frame = "subset"
            entries.append(("rows_matching", "len(subset)"))
        body, results = self.body(frame)
        lines += body
        lines.append("")
        lines.append("result = {")
        lines += [f'    "{key}": {expr},' for key, expr in [*entries, *results]]
        lines.append("}")
        lines.append(_FOOTER)
        return "\n".join(lines) + "\n"

    def filtered_note(self, data: dict[str, Any]) -> str:
        if not self.where:
            return ""
        return (
            f" — {data.get('rows_matching')} of {data.get('rows_in_file')} rows match "
            f"{self.where_text()}"
        )


def _import_order(line: str) -> tuple[int, str]:
    # `import x` lines before `from x import y`, as isort writes them.
    return (1 if line.startswith("from ") else 0, line)


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")
