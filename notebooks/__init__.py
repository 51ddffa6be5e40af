"""Execution transcripts as real Jupyter notebooks: nbformat v4 documents and HTML pages.

Imports nothing of PyExec's: only the standard library, nbformat and nbconvert.
"""

from notebooks.builder import TITLE_TAG, build_notebook
from notebooks.html_page import notebook_to_html
from notebooks.ipynb import notebook_to_bytes
from notebooks.transcript import CellRecord, Transcript

__all__ = [
    "TITLE_TAG",
    "CellRecord",
    "Transcript",
    "build_notebook",
    "notebook_to_bytes",
    "notebook_to_html",
]
