from __future__ import annotations

import base64

from pyexec.worker.cells import split_cells
from pyexec.worker.job_outputs import TEXT_CAP_BYTES, JobOutputCollector, cap_text, result_text


def test_percent_markers_split_cells() -> None:
    assert split_cells("a = 1\n# %%\nb = 2\n#%% second\nc") == ["a = 1", "b = 2", "c"]
    assert split_cells("x = 1") == ["x = 1"]
    assert split_cells("# %%\nx") == ["x"]


def test_text_is_capped_with_marker() -> None:
    capped = cap_text("x" * (TEXT_CAP_BYTES + 10))
    assert capped.startswith("x" * 100) and "output truncated: 10 more bytes" in capped


def test_outputs_become_api_shapes_and_images_artifacts() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    resource = {
        "schema": {"fields": [{"name": "index"}, {"name": "a"}]},
        "data": [{"index": 0, "a": 1.5}, {"index": 1, "a": None}],
    }
    collector = JobOutputCollector("job1")
    collector.add(1, {"output_type": "stream", "name": "stdout", "text": "hi\n"})
    collector.add(
        1,
        {
            "output_type": "execute_result",
            "execution_count": 1,
            "data": {"text/plain": "df", "application/vnd.dataresource+json": resource},
        },
    )
    collector.add(2, {"output_type": "display_data", "data": {"image/png": png}})
    collector.add(
        2,
        {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["\x1b[31mboom\x1b[0m"]},
    )
    types = [o["type"] for o in collector.stored()]
    assert types == ["text", "table", "image", "error"]
    assert collector.stored()[1]["rows"] == [[0, 1.5], [1, None]]
    assert collector.stored()[2]["url"] == "/v1/jobs/job1/artifacts/figure-1.png"
    assert "data" not in collector.stored()[2] and collector.images[0].data == b"\x89PNG fake"
    assert collector.stored()[3]["traceback"] == "boom"


def test_result_prefers_last_plain_result_then_stdout() -> None:
    assert (
        result_text(
            [
                {"output_type": "stream", "name": "stdout", "text": "a\n"},
                {"output_type": "execute_result", "data": {"text/plain": "42"}},
            ]
        )
        == "42"
    )
    assert result_text([{"output_type": "stream", "name": "stdout", "text": "a\nb\n"}]) == "a\nb"
    assert result_text([]) == ""
