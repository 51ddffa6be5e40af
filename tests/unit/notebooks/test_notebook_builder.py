from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import nbformat
import pytest

from pyexec.notebooks import (
    TITLE_TAG,
    CellRecord,
    Transcript,
    build_notebook,
    notebook_to_bytes,
)

MakeTranscript = Callable[..., Transcript]


def _roundtrip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What a reader (JupyterLab, the bundle) gets back from the written file."""
    read = nbformat.reads(notebook_to_bytes(nb).decode(), as_version=4)
    nbformat.validate(read)
    return read


def test_typical_transcript_is_a_valid_v4_5_notebook(make_transcript: MakeTranscript) -> None:
    nb = _roundtrip(build_notebook(make_transcript()))

    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code", "markdown"]
    assert [c.get("execution_count") for c in nb.cells[1:4]] == [1, 2, 3]
    assert nb.cells[4].source == "Revenue is highest in **March**."


def test_title_cell_has_heading_and_quoted_prompt(make_transcript: MakeTranscript) -> None:
    title = build_notebook(make_transcript(title="Sales\nData  Analysis")).cells[0]

    assert title.cell_type == "markdown"
    assert title.source == (
        "# Sales Data Analysis\n\n> Analyze the attached CSV\n> and return summary statistics"
    )
    assert title.metadata.tags == [TITLE_TAG]


def test_title_cell_without_prompt_is_only_the_heading(make_transcript: MakeTranscript) -> None:
    assert build_notebook(make_transcript(prompt=None)).cells[0].source == "# Sales Data Analysis"


def test_code_cells_keep_real_outputs(make_transcript: MakeTranscript, png_b64: str) -> None:
    nb = _roundtrip(build_notebook(make_transcript()))
    stream, table, image = (c.outputs for c in nb.cells[1:4])

    assert stream == [{"output_type": "stream", "name": "stdout", "text": "loaded\n"}]
    assert table[0].output_type == "execute_result"
    assert table[0].execution_count == 2
    assert table[0].data["text/plain"] == "   a  b\n0  1  x\n1  2  y"
    resource = table[0].data["application/vnd.dataresource+json"]
    assert isinstance(resource, dict)
    assert resource["data"][1] == {"index": 1, "a": 2, "b": "y"}
    assert image[0].output_type == "display_data"
    assert image[0].data["image/png"] == png_b64
    assert image[0].metadata == {"image/png": {"width": 1, "height": 1}}
    assert "transient" not in image[0]


def test_timing_is_written_like_nbclient(make_transcript: MakeTranscript) -> None:
    nb = build_notebook(make_transcript())

    assert nb.cells[1].metadata.execution == {
        "iopub.status.busy": "2024-01-15T10:30:01.000100Z",
        "iopub.execute_input": "2024-01-15T10:30:01.000200Z",
        "shell.execute_reply": "2024-01-15T10:30:01.010000Z",
        "iopub.status.idle": "2024-01-15T10:30:01.011000Z",
    }
    assert "execution" not in nb.cells[3].metadata  # no timing recorded


def test_datetime_timing_is_formatted_in_utc() -> None:
    busy = datetime(2024, 1, 15, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    cell = CellRecord("code", "1", timing={"iopub.status.busy": busy})  # type: ignore[dict-item]
    nb = build_notebook(Transcript("j", "t", "completed", [cell]))

    assert nb.cells[1].metadata.execution == {"iopub.status.busy": "2024-01-15T10:00:00.000005Z"}


def test_tags_and_metadata_are_merged() -> None:
    cell = CellRecord(
        "code",
        "df.head()",
        tags=["pyexec-inspection", "keep"],
        metadata={"tags": ["keep"], "jupyter": {"source_hidden": True}},
    )
    meta = build_notebook(Transcript("j", "t", "completed", [cell])).cells[1].metadata

    assert meta.tags == ["keep", "pyexec-inspection"]
    assert meta.jupyter == {"source_hidden": True}


def test_notebook_metadata(make_transcript: MakeTranscript) -> None:
    t = make_transcript(extra={"usage": {"cells": 3}, "job_id": "spoofed"})
    meta = build_notebook(t).metadata

    assert meta.kernelspec == {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    assert meta.language_info.name == "python"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", meta.language_info.version)
    assert meta.pyexec == {
        "job_id": "a1b2c3d4-0000-4000-8000-000000000001",
        "title": "Sales Data Analysis",
        "status": "completed",
        "prompt": "Analyze the attached CSV\nand return summary statistics",
        "created_at": "2024-01-15T10:30:00.000Z",
        "started_at": "2024-01-15T10:30:01.000Z",
        "completed_at": "2024-01-15T10:30:03.250Z",
        "duration_ms": 2250,
        "error_message": None,
        "usage": {"cells": 3},
    }


def test_kernel_reported_metadata_is_used(make_transcript: MakeTranscript) -> None:
    kernelspec = {"name": "pyexec-sandbox", "display_name": "PyExec", "language": "python"}
    language_info = {"name": "python", "version": "3.11.7", "file_extension": ".py"}
    meta = build_notebook(make_transcript(kernelspec=kernelspec, language_info=language_info))

    assert meta.metadata.kernelspec == kernelspec
    assert meta.metadata.language_info == language_info


def test_unknown_times_leave_no_duration(make_transcript: MakeTranscript) -> None:
    t = make_transcript(status="pending", started_at=None, completed_at=None)
    pyexec = build_notebook(t).metadata.pyexec

    assert pyexec.started_at is None
    assert pyexec.completed_at is None
    assert "duration_ms" not in pyexec


def test_naive_datetimes_are_utc(make_transcript: MakeTranscript) -> None:
    t = make_transcript(created_at=datetime(2024, 1, 15, 10, 30))
    assert build_notebook(t).metadata.pyexec.created_at == "2024-01-15T10:30:00.000Z"


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_interrupted_last_cell_still_appears(
    make_transcript: MakeTranscript, error_output: dict[str, Any], status: str
) -> None:
    cells = [
        CellRecord("code", "1/0", outputs=[error_output], execution_count=1),
        CellRecord("code", "import time; time.sleep(999)"),
    ]
    t = make_transcript(status=status, cells=cells, error_message="timed out after 120 s")
    nb = _roundtrip(build_notebook(t))

    assert nb.cells[1].outputs == [
        {
            "output_type": "error",
            "ename": "ZeroDivisionError",
            "evalue": "division by zero",
            "traceback": error_output["traceback"],
        }
    ]
    last = nb.cells[2]
    assert (last.source, last.outputs, last.execution_count) == (
        "import time; time.sleep(999)",
        [],
        None,
    )
    assert nb.metadata.pyexec.status == status
    assert nb.metadata.pyexec.error_message == "timed out after 120 s"


def test_same_transcript_builds_identical_bytes(make_transcript: MakeTranscript) -> None:
    first = notebook_to_bytes(build_notebook(make_transcript()))
    second = notebook_to_bytes(build_notebook(make_transcript()))

    assert first == second


def test_cell_ids_are_valid_unique_and_tied_to_the_job(make_transcript: MakeTranscript) -> None:
    ids = [c.id for c in build_notebook(make_transcript()).cells]
    other = [c.id for c in build_notebook(make_transcript(job_id="another-job")).cells]

    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert set(ids).isdisjoint(other)


def test_given_cell_ids_are_kept_and_duplicates_replaced() -> None:
    cells = [
        CellRecord("code", "1", cell_id="parent-1"),
        CellRecord("code", "2", cell_id="parent-1"),
    ]
    nb = build_notebook(Transcript("child", "t", "completed", cells))

    assert nb.cells[1].id == "parent-1"
    assert nb.cells[2].id not in {"parent-1", nb.cells[0].id}


def test_invalid_given_cell_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="invalid nbformat cell id"):
        build_notebook(Transcript("j", "t", "completed", [CellRecord("code", "1", cell_id="a b")]))


def test_build_does_not_mutate_the_transcript(make_transcript: MakeTranscript) -> None:
    t = make_transcript()
    before = json.dumps([c.__dict__ for c in t.cells], sort_keys=True, default=str)
    build_notebook(t)

    assert json.dumps([c.__dict__ for c in t.cells], sort_keys=True, default=str) == before


def test_extra_that_is_not_json_fails_clearly(make_transcript: MakeTranscript) -> None:
    with pytest.raises(TypeError, match="object"):
        build_notebook(make_transcript(extra={"x": object()}))


def test_extra_datetimes_are_written_as_iso(make_transcript: MakeTranscript) -> None:
    at = datetime(2024, 2, 1, tzinfo=UTC)
    assert build_notebook(make_transcript(extra={"at": at})).metadata.pyexec.at == (
        "2024-02-01T00:00:00.000Z"
    )


@pytest.mark.parametrize(
    "cell",
    [
        CellRecord(cell_type="code", source="1", execution_count=-1),
        CellRecord(cell_type="markdown", source="x", metadata={"jupyter": "hidden"}),
    ],
    ids=["negative-execution-count", "jupyter-metadata-not-an-object"],
)
def test_a_cell_the_schema_rejects_fails_the_build(cell: CellRecord) -> None:
    # Cells are built without nbformat's per-cell check; the notebook's own check catches them.
    transcript = Transcript(job_id="j", title="t", status="completed", cells=[cell])
    with pytest.raises(nbformat.ValidationError):
        build_notebook(transcript)
