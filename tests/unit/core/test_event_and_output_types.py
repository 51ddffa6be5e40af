"""Events and outputs are typed once in `core`: their JSON is the contract's, to the byte."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest

from pyexec.core import event_types, output_types
from pyexec.core.event_types import (
    CancelRequested,
    CellFinished,
    CellOutput,
    CellStarted,
    MarkdownAdded,
    StatusChanged,
    is_final_status,
    parse_event,
)
from pyexec.core.output_types import (
    ErrorOutput,
    ImageOutput,
    JsonOutput,
    TableOutput,
    TextOutput,
    parse_output,
)

ROOT = Path(__file__).resolve().parents[3]


def _bytes(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (StatusChanged(status="running"), {"type": "status", "status": "running"}),
        (CancelRequested(), {"type": "cancel_requested"}),
        (CellStarted(cell=1, source="1+1"), {"type": "cell_started", "cell": 1, "source": "1+1"}),
        (
            CellOutput(cell=2, output={"output_type": "stream", "name": "stdout", "text": "é"}),
            {
                "type": "output",
                "cell": 2,
                "output": {"output_type": "stream", "name": "stdout", "text": "é"},
            },
        ),
        (CellFinished(cell=2, status="ok"), {"type": "cell_finished", "cell": 2, "status": "ok"}),
        (MarkdownAdded(cell=3, source="# Hi"), {"type": "markdown", "cell": 3, "source": "# Hi"}),
    ],
)
def test_each_event_s_json_is_what_the_stream_always_sent(
    event: event_types.JobEvent, wire: dict[str, Any]
) -> None:
    assert _bytes(event.wire()) == _bytes(wire)  # keys in the same order: `type` first
    assert parse_event({**wire, "id": "7"}) == event


def test_only_final_statuses_are_final() -> None:
    assert is_final_status(StatusChanged(status="cancelled"))
    assert not is_final_status(StatusChanged(status="running"))
    assert not is_final_status(CellFinished(cell=1, status="ok"))


def test_outputs_store_the_json_the_api_served_with_extras_after_the_fields() -> None:
    notice = TextOutput(cell=1, name="notice", text="")
    notice.text = "… [2 more]"
    notice.set_extra("left_out", 2)
    assert _bytes(notice.stored()) == _bytes(
        {"cell": 1, "type": "text", "name": "notice", "text": "… [2 more]", "left_out": 2}
    )
    image = ImageOutput(cell=2, media_type="image/png", name="figure-1.png", url="/u")
    image.url = None
    image.set_extra("note", "not kept: cap")
    assert list(image.stored()) == ["cell", "type", "media_type", "name", "url", "note"]
    big = JsonOutput(cell=3, json=None, truncated=True, bytes=9)
    assert big.stored() == {"cell": 3, "type": "json", "json": None, "truncated": True, "bytes": 9}
    error = ErrorOutput(cell=4, ename="E", evalue="v", traceback="t")
    table = TableOutput(cell=5, columns=["a"], rows=[[1]], total_rows=1)
    for output in (notice, image, big, error, table):
        assert parse_output(output.stored()) == output


def test_every_kind_has_one_type() -> None:
    events = {
        get_args(t.model_fields["type"].annotation)[0]
        for t in get_args(get_args(event_types.JobEvent)[0])
    }
    assert events == {
        "status",
        "cancel_requested",
        "cell_started",
        "output",
        "cell_finished",
        "markdown",
    }
    outputs = {
        get_args(t.model_fields["type"].annotation)[0]
        for t in get_args(get_args(output_types.Output)[0])
    }
    assert outputs == {"table", "image", "text", "html", "markdown", "json", "error"}


def test_no_event_or_output_is_spelled_as_a_dict_in_the_worker_or_the_api() -> None:
    kinds = "status|cancel_requested|cell_started|output|cell_finished|markdown"
    kinds += "|table|image|text|html|json|error"
    spelled = re.compile(r"""["']type["']\s*:\s*["'](?:""" + kinds + r""")["']""")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("worker", "api")
        for path in (ROOT / folder).rglob("*.py")
        if "planner" not in path.parts  # the planner's own tool-call JSON, not events
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line)
    ]
    assert found == []
