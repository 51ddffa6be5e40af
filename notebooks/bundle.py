"""The reproducible bundle: a zip that re-runs with "Run All" wherever it is unzipped.

```
<name>/
  <name>.ipynb        the notebook, with a first code cell that sets the kernel up as the
                      job's kernel was (pandas as pd, numpy as np, matplotlib inline)
  sales.csv           the inputs, beside the notebook: the job's code found them there
  out/summary.csv     every file the job wrote, in the layout it wrote them
  README.md           what is inside and how to re-run it
```
"""

from __future__ import annotations

import copy
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from pyexec.notebooks.builder import TITLE_TAG
from pyexec.notebooks.cell_ids import derive_cell_id
from pyexec.notebooks.ipynb import notebook_to_bytes
from pyexec.notebooks.metadata import DEFAULT_KERNELSPEC

__all__ = ["SETUP_TAG", "BundleFile", "bundle_notebook", "write_bundle"]

SETUP_TAG = "pyexec-setup"
SETUP_HEADER = (
    "# Set-up: what PyExec ran in the kernel before the job's cells, so that\n"
    '# "Run All" here starts from the same state.\n'
)
# Already compressed: deflating them again costs time and saves nothing.
_STORED_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".zip", ".gz", ".bz2", ".xz", ".parquet"}
    | {".xlsx", ".docx", ".pptx", ".pdf", ".feather"}
)


@dataclass(frozen=True)
class BundleFile:
    name: str  # relative posix path beside the notebook, e.g. "sales.csv" or "out/a.csv"
    source: Path


def bundle_notebook(nb: NotebookNode) -> NotebookNode:
    """A copy of the job's notebook that any Jupyter can run: the standard `python3`
    kernelspec (a PyExec-only kernel name would make JupyterLab ask for a kernel), and the
    kernel set-up recorded in the metadata as the first code cell."""
    out = copy.deepcopy(nb)
    out.metadata["kernelspec"] = dict(DEFAULT_KERNELSPEC)
    pyexec = out.metadata.get("pyexec") or {}
    setup = pyexec.get("kernel_setup")
    if setup and not any(SETUP_TAG in c.get("metadata", {}).get("tags", []) for c in out.cells):
        cell = new_code_cell(
            SETUP_HEADER + str(setup).rstrip("\n"),
            id=derive_cell_id(str(pyexec.get("job_id", "")), -1),
            metadata={"tags": [SETUP_TAG]},
        )
        at = 1 if out.cells and TITLE_TAG in out.cells[0].get("metadata", {}).get("tags", []) else 0
        out.cells.insert(at, cell)
    nbformat.validate(out)
    return out


def _check_name(name: str) -> str:
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise ValueError(f"not a relative path inside the bundle: {name!r}")
    return name


def _size(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _readme(
    name: str,
    title: str,
    inputs: Sequence[BundleFile],
    generated: Sequence[BundleFile],
    missing_inputs: Sequence[str],
) -> str:
    lines = [
        f"# {title}",
        "",
        f"Open `{name}.ipynb` from this folder in JupyterLab (or Jupyter Notebook, VS Code) and "
        "choose **Run All**. Its first code cell prepares the kernel as PyExec did; the job's "
        "code then finds its inputs beside the notebook, as it did when it ran.",
        "",
        "Needs Python 3 with `ipykernel`, `pandas`, `numpy` and `matplotlib` (plus anything "
        "else the code imports).",
        "",
        "## Inputs",
        "",
    ]
    lines += [f"- `{f.name}` ({_size(f.source.stat().st_size)})" for f in inputs] or ["- none"]
    if missing_inputs:
        lines += ["", "Not included (deleted after the job ran; put them here to re-run):", ""]
        lines += [f"- `{m}`" for m in missing_inputs]
    lines += ["", "## Files the job wrote", ""]
    lines += [f"- `{f.name}` ({_size(f.source.stat().st_size)})" for f in generated] or ["- none"]
    lines += ["", "Running the notebook writes them again.", ""]
    return "\n".join(lines)


def write_bundle(
    target: Path,
    *,
    name: str,
    notebook: NotebookNode,
    inputs: Sequence[BundleFile] = (),
    generated: Sequence[BundleFile] = (),
    missing_inputs: Sequence[str] = (),
) -> None:
    """Write the bundle zip to `target` (blocking: call it from a thread).

    `name` names the folder inside the zip and the notebook in it. A generated file whose
    name an input or the notebook already has is left out: the input is what the code read.
    """
    folder = _check_name(name)
    nb = bundle_notebook(notebook)
    title = str((nb.metadata.get("pyexec") or {}).get("title") or name)
    taken = {f"{name}.ipynb".casefold(), "readme.md"}
    kept_inputs: list[BundleFile] = []
    for f in inputs:
        if _check_name(f.name).casefold() not in taken:
            taken.add(f.name.casefold())
            kept_inputs.append(f)
    kept_generated: list[BundleFile] = []
    for f in generated:
        if _check_name(f.name).casefold() not in taken:
            taken.add(f.name.casefold())
            kept_generated.append(f)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{folder}/{name}.ipynb", notebook_to_bytes(nb))
        zf.writestr(
            f"{folder}/README.md",
            _readme(name, title, kept_inputs, kept_generated, missing_inputs),
        )
        for f in [*kept_inputs, *kept_generated]:
            stored = PurePosixPath(f.name).suffix.lower() in _STORED_SUFFIXES
            zf.write(
                f.source,
                f"{folder}/{f.name}",
                compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
            )
