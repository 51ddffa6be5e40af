from __future__ import annotations

import base64
import json

from pyexec.worker.artifacts import ArtifactBudget
from pyexec.worker.job_outputs import (
    MAX_OUTPUTS_PER_CELL,
    NOTEBOOK_TEXT_CAP_BYTES,
    TABLE_MIME,
    TEXT_CAP_BYTES,
    JobOutputCollector,
    cap_cell_outputs,
    json_safe,
    table_of,
)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


def _table_output(records: list[dict], total: int | None) -> dict:
    fields = [{"name": k} for k in records[0]] if records else []
    return {
        "output_type": "execute_result",
        "data": {TABLE_MIME: {"schema": {"fields": fields}, "data": records}, "text/plain": "df"},
        "metadata": {TABLE_MIME: {"total_rows": total}} if total is not None else {},
    }


def test_table_total_rows_comes_from_the_metadata_not_the_rows_sent() -> None:
    collector = JobOutputCollector("j")
    records = [{"index": i, "x": i} for i in range(1_000)]
    collector.add(1, _table_output(records, total=250_000))
    table = collector.stored()[0]
    assert table["type"] == "table" and table["total_rows"] == 250_000
    assert len(table["rows"]) == 1_000 and table["columns"] == ["index", "x"]
    # Without the metadata (e.g. pandas' own formatter), the rows sent are all we know.
    collector.add(2, _table_output(records[:3], total=None))
    assert collector.stored()[1]["total_rows"] == 3


def test_table_rows_are_strict_json() -> None:
    resource = {
        "schema": {"fields": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
        "data": [
            {"a": float("nan"), "b": float("inf"), "c": "2024-01-01T00:00:00.000Z"},
            {"a": 1.5, "b": [1, float("-inf")], "c": None},
        ],
    }
    table = table_of(resource, 2)
    assert table["rows"] == [[None, None, "2024-01-01T00:00:00.000Z"], [1.5, [1, None], None]]
    json.dumps(table, allow_nan=False)  # raises on NaN/Infinity


def test_json_safe_turns_the_unknown_into_strings() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing"

    assert json_safe({"x": Thing(), 1: (1, 2.0)}) == {"x": "thing", "1": [1, 2.0]}


def test_big_json_output_is_not_stored_whole() -> None:
    collector = JobOutputCollector("j")
    big = {"k": "v" * (TEXT_CAP_BYTES + 10)}
    collector.add(1, {"output_type": "display_data", "data": {"application/json": big}})
    collector.add(2, {"output_type": "display_data", "data": {"application/json": {"a": 1}}})
    assert collector.stored()[0]["json"] is None and collector.stored()[0]["truncated"] is True
    assert collector.stored()[1]["json"] == {"a": 1}


def test_a_cells_text_shares_one_budget() -> None:
    collector = JobOutputCollector("j")
    collector.add(1, {"output_type": "stream", "name": "stdout", "text": "a" * 60_000})
    collector.add(1, {"output_type": "stream", "name": "stderr", "text": "b" * 60_000})
    collector.add(1, {"output_type": "execute_result", "data": {"text/plain": "c" * 10}})
    collector.add(2, {"output_type": "stream", "name": "stdout", "text": "d" * 10})
    first, second, third, other = collector.stored()
    assert first["text"] == "a" * 60_000
    assert second["text"].startswith("b" * 40_000 + "\n… [output truncated: 20000 more bytes]")
    assert third["text"] == "… [output truncated: 10 more bytes]"
    assert other["text"] == "d" * 10
    total = sum(len(o["text"].encode()) for o in collector.stored() if o["cell"] == 1)
    assert total < TEXT_CAP_BYTES + 200


def test_a_cell_keeps_a_bounded_number_of_outputs_and_its_error() -> None:
    collector = JobOutputCollector("j")
    for i in range(MAX_OUTPUTS_PER_CELL + 50):
        collector.add(1, {"output_type": "display_data", "data": {"text/markdown": f"{i}"}})
    collector.add(1, {"output_type": "error", "ename": "E", "evalue": "v", "traceback": []})
    kept = [o for o in collector.stored() if o["type"] == "markdown"]
    assert len(kept) == MAX_OUTPUTS_PER_CELL
    notice = next(o for o in collector.stored() if o.get("name") == "notice")
    assert notice["text"].startswith("… [50 more outputs of this cell left out")
    assert collector.stored()[-1]["type"] == "error"


def test_rich_types_in_order_of_preference() -> None:
    collector = JobOutputCollector("j")
    collector.add(1, {"output_type": "display_data", "data": {"text/html": "<b>x</b>"}})
    collector.add(1, {"output_type": "display_data", "data": {"text/markdown": "# x"}})
    collector.add(1, {"output_type": "display_data", "data": {"image/svg+xml": "<svg/>"}})
    collector.add(1, {"output_type": "display_data", "data": {"image/gif": PNG}})
    kinds = [(o["type"], o.get("name")) for o in collector.stored()]
    assert kinds == [
        ("html", None),
        ("markdown", None),
        ("image", "figure-1.svg"),
        ("image", "figure-2.gif"),
    ]
    assert collector.images[0].data == b"<svg/>"


def test_figures_move_aside_for_files_the_code_wrote() -> None:
    collector = JobOutputCollector("j")
    for _ in range(2):
        collector.add(1, {"output_type": "display_data", "data": {"image/png": PNG}})
    collector.avoid_names({"figure-1.png", "figure-3.png"})
    assert [i.name for i in collector.images] == ["figure-4.png", "figure-2.png"]
    assert collector.stored()[0]["url"] == "/v1/jobs/j/artifacts/figure-4.png"
    collector.left_out("figure-2.png", "not kept: cap")
    assert collector.stored()[1]["url"] is None and collector.stored()[1]["note"] == "not kept: cap"


def test_notebook_outputs_are_capped_without_touching_the_kernels() -> None:
    huge = "x" * (NOTEBOOK_TEXT_CAP_BYTES * 3)
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": huge},
        {"output_type": "execute_result", "data": {"text/plain": huge, "image/png": PNG}},
        {"output_type": "stream", "name": "stderr", "text": "short"},
    ]
    capped = cap_cell_outputs(outputs)
    assert len(capped[0]["text"].encode()) < NOTEBOOK_TEXT_CAP_BYTES + 100
    assert "output truncated" in capped[0]["text"]
    assert "output truncated" in capped[1]["data"]["text/plain"]
    assert capped[1]["data"]["image/png"] == PNG
    assert capped[2] is outputs[2]
    assert outputs[0]["text"] is huge


def test_budget_counts_files_and_bytes() -> None:
    budget = ArtifactBudget(max_files=3, max_bytes=100)
    assert budget.refuse(60) is None
    assert "over their cap of 100 bytes" in (budget.refuse(50) or "")
    assert budget.refuse(40) is None
    assert budget.refuse(0) is None
    assert "cap of 3 artifacts" in (budget.refuse(0) or "")
