"""Notebook → the bytes of a .ipynb file."""

from __future__ import annotations

import nbformat
from nbformat import NotebookNode

__all__ = ["notebook_to_bytes"]


def notebook_to_bytes(nb: NotebookNode) -> bytes:
    """The .ipynb file: nbformat's canonical JSON (sorted keys), UTF-8, ending in a newline."""
    text: str = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")
