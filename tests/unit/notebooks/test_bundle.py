from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest

from pyexec.notebooks import (
    SETUP_TAG,
    TITLE_TAG,
    BundleFile,
    CellRecord,
    Transcript,
    build_notebook,
    bundle_notebook,
    write_bundle,
)

SETUP = "import pandas as pd\n%matplotlib inline\n"


def _notebook(extra: dict | None = None) -> nbformat.NotebookNode:
    return build_notebook(
        Transcript(
            job_id="job-1",
            title="Sales: Q1",
            status="completed",
            cells=[
                CellRecord(
                    cell_type="code",
                    source="df = pd.read_csv('sales.csv')\nlen(df)",
                    outputs=[
                        {
                            "output_type": "execute_result",
                            "execution_count": 1,
                            "data": {"text/plain": "5"},
                            "metadata": {},
                        }
                    ],
                    execution_count=1,
                )
            ],
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            kernelspec={"name": "pyexec-python", "display_name": "Python 3 (PyExec)"},
            extra=extra if extra is not None else {"kernel_setup": SETUP},
        )
    )


def test_bundle_notebook_runs_anywhere_from_the_same_state() -> None:
    nb = bundle_notebook(_notebook())
    nbformat.validate(nb)
    assert nb.metadata.kernelspec["name"] == "python3"
    assert TITLE_TAG in nb.cells[0].metadata["tags"]
    setup = nb.cells[1]
    assert setup.cell_type == "code" and SETUP_TAG in setup.metadata["tags"]
    assert setup.source.endswith("import pandas as pd\n%matplotlib inline")
    assert setup.outputs == [] and setup.execution_count is None
    # The job's own cell keeps its outputs, so the analyst sees results before re-running.
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "5"
    # Idempotent: a bundle of a bundle does not stack set-up cells.
    assert len(bundle_notebook(nb).cells) == len(nb.cells)


def test_without_recorded_setup_nothing_is_added() -> None:
    nb = bundle_notebook(_notebook(extra={}))
    assert [c.cell_type for c in nb.cells] == ["markdown", "code"]


def test_zip_layout_inputs_beside_the_notebook(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a\n1\n")
    (tmp_path / "gen.csv").write_text("b\n2\n")
    (tmp_path / "fig.png").write_bytes(b"\x89PNG")
    target = tmp_path / "b.zip"
    write_bundle(
        target,
        name="sales-q1-job1",
        notebook=_notebook(),
        inputs=[BundleFile("sales.csv", tmp_path / "in.csv")],
        generated=[
            BundleFile("out/summary.csv", tmp_path / "gen.csv"),
            BundleFile("out/plot.png", tmp_path / "fig.png"),
            # Same name as an input (case-insensitively): the input is what the code read.
            BundleFile("SALES.csv", tmp_path / "gen.csv"),
        ],
        missing_inputs=["gone.csv"],
    )
    with zipfile.ZipFile(target) as zf:
        names = sorted(zf.namelist())
        assert names == [
            "sales-q1-job1/README.md",
            "sales-q1-job1/out/plot.png",
            "sales-q1-job1/out/summary.csv",
            "sales-q1-job1/sales-q1-job1.ipynb",
            "sales-q1-job1/sales.csv",
        ]
        assert zf.read("sales-q1-job1/sales.csv") == b"a\n1\n"
        assert zf.getinfo("sales-q1-job1/out/plot.png").compress_type == zipfile.ZIP_STORED
        nb = nbformat.reads(zf.read("sales-q1-job1/sales-q1-job1.ipynb").decode(), as_version=4)
        nbformat.validate(nb)
        assert SETUP_TAG in nb.cells[1].metadata["tags"]
        readme = zf.read("sales-q1-job1/README.md").decode()
        assert "# Sales: Q1" in readme and "`sales.csv`" in readme and "`gone.csv`" in readme
        assert "`out/summary.csv`" in readme and "Run All" in readme
        json.loads(zf.read("sales-q1-job1/sales-q1-job1.ipynb"))


@pytest.mark.parametrize("bad", ["../evil.csv", "/etc/passwd", "a/../../b", "a\\b", ""])
def test_names_that_escape_the_folder_are_refused(tmp_path: Path, bad: str) -> None:
    (tmp_path / "x").write_text("x")
    with pytest.raises(ValueError):
        write_bundle(
            tmp_path / "b.zip",
            name="n",
            notebook=_notebook(),
            generated=[BundleFile(bad, tmp_path / "x")],
        )
