"""Job outputs as the dashboard shows them: untrusted data made into escaped or sanitised markup.

User code and models write every output, so nothing here trusts one. Text is escaped by the
templates (autoescaping); HTML and markdown go through the notebooks' allowlist sanitiser (no
script, no event handlers, no javascript: URLs); images are `<img>` elements, where even an
SVG cannot run script; and the page's CSP forbids inline script and style besides. Both shapes
of output are handled: the job's structured `outputs` (API.md) and nbformat outputs (the
notebook's, and the raw ones the live event stream carries).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal
from urllib.parse import quote

import mistune
from markupsafe import Markup
from nbconvert.filters.ansi import strip_ansi  # the notebook's own reader of kernel colours
from nbformat import NotebookNode
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from pyexec.notebooks.html_sanitize import clean_html_filter

# What one table shows in a page; the notebook and the bundle hold the rest.
TABLE_ROWS_SHOWN = 100
JSON_CHARS_SHOWN = 20_000
TABLE_MIME = "application/vnd.dataresource+json"
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")

OutputKind = Literal["table", "image", "text", "html", "markdown", "json", "error", "omitted"]


@dataclass
class TableView:
    columns: list[str]
    rows: list[list[str]]
    total_rows: int

    @property
    def shown(self) -> int:
        return len(self.rows)


@dataclass
class OutputView:
    """One output, ready for the `output` macro: every str field is plain text to escape,
    every Markup field was sanitised here."""

    kind: OutputKind
    cell: int | None = None
    name: str = ""  # a text output's stream (stdout, stderr, result, notice)
    text: str = ""
    html: Markup = field(default_factory=Markup)
    table: TableView | None = None
    src: str = ""  # an image's URL (our own route or a data: URI)
    alt: str = ""
    note: str = ""


@dataclass
class CellView:
    kind: Literal["markdown", "code"]
    index: int
    html: Markup  # rendered markdown, or highlighted code
    execution_count: int | None = None
    outputs: list[OutputView] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


# ---- markup ------------------------------------------------------------------------------


@cache
def _sanitizer() -> Any:
    # No inline styles: the page's CSP would refuse them anyway.
    return clean_html_filter()


def _table_cell(renderer: Any, text: str, align: str | None = None, head: bool = False) -> str:
    # mistune aligns with style attributes; a class does it within the CSP.
    tag = "th" if head else "td"
    aligned = f' class="align-{align}"' if align in ("left", "center", "right") else ""
    return f"  <{tag}{aligned}>{text}</{tag}>\n"


class _Renderer(mistune.HTMLRenderer):
    def heading(self, text: str, level: int, **attrs: Any) -> str:
        # A job's markdown sits under the page's own h1 and h2: its headings start at h3.
        tag = f"h{min(level + 2, 6)}"
        return f"<{tag}>{text}</{tag}>\n"


@cache
def _markdown() -> mistune.Markdown:
    # escape=True: raw HTML inside markdown is shown as text, never passed through.
    renderer = _Renderer(escape=True)
    md = mistune.create_markdown(renderer=renderer, plugins=["table", "strikethrough"])
    renderer.register("table_cell", _table_cell)
    return md


def clean_html(html: str) -> Markup:
    """HTML from a job, kept to the notebooks' allowlist (no script, handlers or js: URLs)."""
    return Markup(_sanitizer()(html))


def markdown_html(text: str | None) -> Markup:
    if not text:
        return Markup()
    rendered = _markdown()(text)
    return clean_html(rendered if isinstance(rendered, str) else "")


@cache
def _formatter() -> HtmlFormatter:
    return HtmlFormatter(nowrap=True, classprefix="hl-")


def highlight_python(source: str) -> Markup:
    # Pygments escapes the source; the spans carry classes only (styled by pygments.css).
    return Markup(highlight(source, PythonLexer(), _formatter()))


def pygments_css() -> str:
    """The stylesheet for highlight_python's classes (static/pygments.css is made from it)."""
    return str(_formatter().get_style_defs(".code"))


# ---- cells and values ---------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A table cell as text: numbers the way pandas prints them, missing values empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:.1f}"
        return f"{value:.6g}" if abs(value) >= 1e-4 else f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def table_view(columns: Iterable[Any], rows: Iterable[Iterable[Any]], total_rows: int) -> TableView:
    shown = []
    for i, row in enumerate(rows):
        if i >= TABLE_ROWS_SHOWN:
            break
        shown.append([cell_text(v) for v in row])
    return TableView([str(c) for c in columns], shown, total_rows)


def _resource_table(resource: Mapping[str, Any], total: Any) -> TableView | None:
    schema = resource.get("schema")
    data = resource.get("data")
    if not isinstance(schema, Mapping) or not isinstance(data, list):
        return None
    columns = [str(f.get("name")) for f in schema.get("fields") or [] if isinstance(f, Mapping)]
    rows = ([r.get(c) for c in columns] for r in data if isinstance(r, Mapping))
    count = total if isinstance(total, int) and total >= 0 else len(data)
    return table_view(columns, rows, count)


def _json_text(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > JSON_CHARS_SHOWN:
        text = text[:JSON_CHARS_SHOWN] + f"\n… [{len(text) - JSON_CHARS_SHOWN:,} more characters]"
    return text


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


# ---- the job's structured outputs -------------------------------------------------------


def artifact_url(job_id: str, name: str) -> str:
    return f"/jobs/{quote(job_id, safe='')}/artifacts/{quote(name, safe='/')}"


def job_output_view(job_id: str, output: Mapping[str, Any]) -> OutputView:
    """One of a job's `outputs` (API.md's shapes)."""
    kind = output.get("type")
    cell = output.get("cell") if isinstance(output.get("cell"), int) else None
    if kind == "table":
        total = output.get("total_rows")
        rows = output.get("rows") or []
        table = table_view(
            output.get("columns") or [], rows, total if isinstance(total, int) else len(rows)
        )
        return OutputView("table", cell, table=table)
    if kind == "image":
        name = str(output.get("name") or "")
        if not output.get("url"):
            note = str(output.get("note") or "The figure was not kept (the job's artifact caps).")
            return OutputView("omitted", cell, name=name, note=note)
        return OutputView(
            "image",
            cell,
            name=name,
            src=artifact_url(job_id, name),
            alt=f"{name}, from cell {cell}",
        )
    if kind == "text":
        return OutputView(
            "text", cell, name=str(output.get("name") or "stdout"), text=_text(output.get("text"))
        )
    if kind == "html":
        return OutputView("html", cell, html=clean_html(_text(output.get("html"))))
    if kind == "markdown":
        return OutputView("markdown", cell, html=markdown_html(_text(output.get("text"))))
    if kind == "json":
        if output.get("truncated"):
            return OutputView(
                "omitted",
                cell,
                note=f"JSON of {output.get('bytes', '?')} bytes, left out (too large).",
            )
        return OutputView("json", cell, text=_json_text(output.get("json")))
    if kind == "error":
        return OutputView(
            "error",
            cell,
            name=str(output.get("ename") or "Error"),
            text=strip_ansi(_text(output.get("traceback"))) or _text(output.get("evalue")),
            note=_text(output.get("evalue")),
        )
    return OutputView(
        "omitted", cell, note=f"An output of type {str(kind)[:40]!r} is not shown here."
    )


# ---- nbformat outputs (the notebook's, and the live stream's) -----------------------------


def _image_src(mime: str, value: Any) -> str | None:
    text = _text(value)
    if mime == "image/svg+xml":
        payload = base64.b64encode(text.encode()).decode()
    else:
        payload = "".join(text.split())
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return None
    return f"data:{mime};base64,{payload}"


def notebook_output_view(output: Mapping[str, Any], cell: int | None = None) -> OutputView | None:
    kind = output.get("output_type")
    if kind == "stream":
        return OutputView(
            "text",
            cell,
            name=str(output.get("name") or "stdout"),
            text=strip_ansi(_text(output.get("text"))),
        )
    if kind == "error":
        traceback = output.get("traceback")
        lines = traceback if isinstance(traceback, list) else [_text(traceback)]
        return OutputView(
            "error",
            cell,
            name=_text(output.get("ename")) or "Error",
            text=strip_ansi("\n".join(_text(line) for line in lines)),
            note=_text(output.get("evalue")),
        )
    if kind not in ("display_data", "execute_result"):
        return None
    data = output.get("data")
    if not isinstance(data, Mapping) or not data:
        return None
    metadata = output.get("metadata") if isinstance(output.get("metadata"), Mapping) else {}
    if isinstance(data.get(TABLE_MIME), Mapping):
        table_meta = metadata.get(TABLE_MIME) if isinstance(metadata, Mapping) else None
        total = table_meta.get("total_rows") if isinstance(table_meta, Mapping) else None
        table = _resource_table(data[TABLE_MIME], total)
        if table is not None:
            return OutputView("table", cell, table=table)
    for mime in _IMAGE_MIMES:
        if mime in data:
            src = _image_src(mime, data[mime])
            if src is not None:
                return OutputView(
                    "image", cell, src=src, alt=f"Figure from cell {cell}" if cell else "Figure"
                )
    if "text/html" in data:
        return OutputView("html", cell, html=clean_html(_text(data["text/html"])))
    if "text/markdown" in data:
        return OutputView("markdown", cell, html=markdown_html(_text(data["text/markdown"])))
    if "application/json" in data:
        return OutputView("json", cell, text=_json_text(data["application/json"]))
    for mime in ("text/latex", "text/plain"):
        if mime in data:
            return OutputView("text", cell, name="result", text=strip_ansi(_text(data[mime])))
    return OutputView("omitted", cell, note="An output this page does not show (e.g. JavaScript).")


def notebook_cells(nb: NotebookNode) -> list[CellView]:
    """The notebook's cells as the page shows them; `index` is the cell's position (the title
    is 0), as the live stream numbers them. Raw cells and attachments are not shown."""
    cells: list[CellView] = []
    for index, cell in enumerate(nb.cells):
        tags = [str(t) for t in (cell.get("metadata", {}).get("tags") or [])]
        if cell.cell_type == "markdown":
            cells.append(CellView("markdown", index, markdown_html(_text(cell.source)), tags=tags))
        elif cell.cell_type == "code":
            views = [notebook_output_view(o, index) for o in cell.get("outputs", [])]
            count = cell.get("execution_count")
            cells.append(
                CellView(
                    "code",
                    index,
                    highlight_python(_text(cell.source)),
                    execution_count=count if isinstance(count, int) else None,
                    outputs=[v for v in views if v is not None],
                    tags=tags,
                )
            )
    return cells
