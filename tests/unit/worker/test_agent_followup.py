from __future__ import annotations

from pyexec.core.models import Job
from pyexec.notebooks import CellRecord, Transcript, build_notebook, notebook_to_bytes
from pyexec.worker.agent.followup import (
    ParentRun,
    cells_as_text,
    earlier_heading,
    inputs_of,
    notebook_cells,
)
from pyexec.worker.agent.inspection import INSPECTION_METADATA, INSPECTION_TAG


def parent_notebook() -> bytes:
    cells = [
        CellRecord("code", "load()", tags=[INSPECTION_TAG], metadata=dict(INSPECTION_METADATA)),
        CellRecord("markdown", "Totals first."),
        CellRecord(
            "code",
            "x = 41\nprint(x)",
            outputs=[{"output_type": "stream", "name": "stdout", "text": "41\n"}],
            execution_count=2,
            timing={"shell.execute_reply": "2024-01-01T00:00:00.000000Z"},
        ),
    ]
    transcript = Transcript(job_id="parent-1", title="Base", status="completed", cells=cells)
    return notebook_to_bytes(build_notebook(transcript))


def test_a_stored_notebook_gives_back_its_cells_after_the_title() -> None:
    cells = notebook_cells(parent_notebook())
    assert [(c.cell_type, c.source) for c in cells] == [
        ("code", "load()"),
        ("markdown", "Totals first."),
        ("code", "x = 41\nprint(x)"),
    ]
    assert cells[0].metadata["tags"] == [INSPECTION_TAG]
    assert cells[0].metadata["jupyter"] == {"source_hidden": True}
    assert all(c.cell_id for c in cells)
    assert "execution" not in cells[2].metadata  # the replay has timings of its own
    assert cells[2].outputs[0]["text"] == "41\n"


def test_the_model_reads_prose_code_and_output_but_not_the_inspection() -> None:
    text = cells_as_text(notebook_cells(parent_notebook()))
    assert text == "Totals first.\n\n```python\nx = 41\nprint(x)\n```\nOutput:\n41"


def test_inputs_include_the_ancestors_files_once() -> None:
    job = Job(id="c", account_id="a", title="t", file_ids=["f2", "f3"], parent_job_id="p")
    parent = ParentRun("p", Job(id="p", account_id="a", title="p"), [], ["f1", "f2"])
    staged = inputs_of(job, parent)
    assert staged.file_ids == ["f1", "f2", "f3"] and staged.id == "c"
    assert job.file_ids == ["f2", "f3"]
    assert inputs_of(job, None) is job


def test_earlier_heading_quotes_the_parent_prompt() -> None:
    parent = Job(id="p1", account_id="a", title="Sales\nreview", prompt="Top 5\nby revenue")
    assert earlier_heading(parent) == (
        "## Earlier: Sales review\n\n> Top 5\n> by revenue\n\n"
        "The cells of job `p1`, run again here."
    )
