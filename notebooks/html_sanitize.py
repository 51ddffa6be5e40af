"""Making a notebook safe to render as HTML on the service's own origin.

User code (and an LLM steered by user data) writes the outputs, so anything that can run script
in the page is removed. nbconvert's own `sanitize_html` is too blunt to use as is: its
allowlist escapes `<p>`, headings and table heads, which mangles every DataFrame and markdown
cell, and it leaves output metadata alone, which the lab template writes into `<img>`
attributes unquoted.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbformat import NotebookNode

__all__ = ["RENDERED_MIMETYPES", "clean_html_filter", "scrub_notebook"]

# What the HTML page may render. Not here: application/javascript, widget views and mermaid
# (rendered as script or unescaped by the template); JSON mimetypes (never rendered).
RENDERED_MIMETYPES = frozenset(
    {
        "text/plain",
        "text/html",
        "text/markdown",
        "text/latex",
        "image/png",
        "image/jpeg",
        # Rendered as <img src="data:...">, where an SVG cannot run script.
        "image/svg+xml",
    }
)

_TAGS = [
    *("a", "abbr", "acronym", "b", "blockquote", "br", "caption", "code", "col", "colgroup"),
    *("dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "hr", "i"),
    *("ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span"),
    *("strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead"),
    *("tr", "u", "ul", "var", "h1", "h2", "h3", "h4", "h5", "h6"),
]
# No `style` (tag or attribute): CSS runs no script, but `.jp-Cell{display:none}` or a fixed
# overlay can hide the real results, and `@import`/`url()` load remote resources. No `img`:
# an output's pictures are image outputs (embedded); an <img> in its HTML loads from afar.
_GLOBAL_ATTRIBUTES = frozenset({"class", "id", "title", "lang", "dir"})
_TAG_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "name"}),
    "ol": frozenset({"start", "type"}),
    "table": frozenset({"border", "cellpadding", "cellspacing"}),
    "td": frozenset({"colspan", "rowspan", "align", "valign"}),
    "th": frozenset({"colspan", "rowspan", "align", "valign", "halign", "scope"}),
    "col": frozenset({"span", "width"}),
    "colgroup": frozenset({"span"}),
    "details": frozenset({"open"}),
}


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    # Links stay within the page: a job's output must not send a reader elsewhere.
    if tag == "a" and name == "href":
        return value.startswith("#")
    return name in _GLOBAL_ATTRIBUTES or name in _TAG_ATTRIBUTES.get(tag, frozenset())


def clean_html_filter() -> Callable[[str], str]:
    """A replacement for the template's `clean_html` filter, with an allowlist for notebooks."""
    sanitizer = SanitizeHTML(tags=_TAGS, attributes=_allowed_attribute, strip=True)

    def clean_html(element: str | bytes) -> str:
        text = element.decode() if isinstance(element, bytes) else str(element)
        # Stripping a tag keeps its content: a style sheet or script would show as text.
        text = _CODE_BLOCKS.sub("", text)
        return str(sanitizer.sanitize_html_tags(text))

    return clean_html


_CODE_BLOCKS = re.compile(r"<(style|script)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def _image_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    # The template writes width/height unquoted into <img>, so only plain numbers may pass.
    kept: dict[str, Any] = {}
    for key in ("width", "height"):
        value = meta.get(key)
        if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
            kept[key] = value
    if meta.get("needs_background") in ("light", "dark"):
        kept["needs_background"] = meta["needs_background"]
    if meta.get("unconfined") is True:
        kept["unconfined"] = True
    return kept


def _scrub_output(output: NotebookNode) -> bool:
    """Scrub `output` in place; False when nothing renderable is left of it."""
    if output.get("output_type") not in ("display_data", "execute_result"):
        return True  # streams and errors are escaped by the template
    data = output.get("data", {})
    for mimetype in [m for m in data if m not in RENDERED_MIMETYPES]:
        del data[mimetype]
    if not data:
        return False
    meta = output.get("metadata", {})
    scrubbed: dict[str, Any] = {}
    for mimetype in ("image/png", "image/jpeg"):
        # Metadata may sit under the mimetype or at the top level; `filenames` is dropped.
        per_mime = meta.get(mimetype)
        merged = {**meta, **(per_mime if isinstance(per_mime, Mapping) else {})}
        image_meta = _image_metadata(merged)
        if image_meta:
            scrubbed[mimetype] = image_meta
    output["metadata"] = scrubbed
    return True


def scrub_notebook(nb: NotebookNode) -> NotebookNode:
    """A copy of `nb` holding only what the sanitised page may render."""
    safe = copy.deepcopy(nb)
    # Widget state makes the template load and run the widget manager's script.
    safe.metadata.pop("widgets", None)
    for cell in safe.cells:
        cell.pop("attachments", None)
        if cell.cell_type == "raw":
            cell.source = ""
        if "outputs" in cell:
            cell.outputs = [out for out in cell.outputs if _scrub_output(out)]
    return safe
