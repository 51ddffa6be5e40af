"""Notebook → a standalone HTML page."""

from __future__ import annotations

import re

from nbconvert import HTMLExporter
from nbformat import NotebookNode

from pyexec.notebooks.html_sanitize import clean_html_filter, scrub_notebook

__all__ = ["PAGE_CSP", "notebook_to_html"]

# Also in the page itself, for a downloaded copy: nothing is loaded from anywhere, no script
# runs (the template's require.js and MathJax come from a CDN, and nothing here needs them).
PAGE_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.DOTALL | re.IGNORECASE)
_HEAD = re.compile(r"<head[^>]*>", re.IGNORECASE)


def notebook_to_html(nb: NotebookNode, *, sanitize: bool = True) -> str:
    """A standalone HTML page of the notebook (JupyterLab's look), images inline as data: URIs.

    Blocking (template rendering, syntax highlighting): call it from a thread. With `sanitize`
    (the default) nothing that user code wrote can run script in the page; turn it off only
    for notebooks whose every output is trusted.
    """
    exporter = HTMLExporter(
        template_name="lab",
        embed_images=True,
        sanitize_html=sanitize,
        skip_svg_encoding=False,
        filters={"clean_html": clean_html_filter()} if sanitize else {},
    )
    raw_title = nb.get("metadata", {}).get("pyexec", {}).get("title")
    title = " ".join(str(raw_title or "Notebook").split())
    source = scrub_notebook(nb) if sanitize else nb
    body, _ = exporter.from_notebook_node(source, resources={"metadata": {"name": title}})
    if not sanitize:
        return str(body)
    # The template's own scripts; user content is escaped or sanitised before this point.
    page = _SCRIPT.sub("", str(body))
    meta = f'<meta http-equiv="Content-Security-Policy" content="{PAGE_CSP}">'
    return _HEAD.sub(lambda m: m.group(0) + meta, page, count=1)
