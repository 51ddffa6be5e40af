"""Notebook → a standalone HTML page."""

from __future__ import annotations

from nbconvert import HTMLExporter
from nbformat import NotebookNode

from notebooks.html_sanitize import clean_html_filter, scrub_notebook

__all__ = ["notebook_to_html"]


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
    return str(body)
