"""Execution transcripts as real Jupyter notebooks: nbformat v4 documents and HTML pages.

Imports nothing of PyExec's: only the standard library, nbformat and nbconvert.
"""

from pyexec.notebooks.builder import TITLE_TAG, build_notebook
from pyexec.notebooks.bundle import SETUP_TAG, BundleFile, bundle_notebook, write_bundle
from pyexec.notebooks.html_page import notebook_to_html
from pyexec.notebooks.ipynb import notebook_to_bytes
from pyexec.notebooks.transcript import CellRecord, Transcript

__all__ = [
    "SETUP_TAG",
    "TITLE_TAG",
    "BundleFile",
    "CellRecord",
    "Transcript",
    "build_notebook",
    "bundle_notebook",
    "notebook_to_bytes",
    "notebook_to_html",
    "write_bundle",
]
