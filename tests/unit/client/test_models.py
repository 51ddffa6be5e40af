"""The SDK's typed values read from the API's JSON, their display in a notebook, and text from
a job made safe for a terminal."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

import pyexec_client
from pyexec_client import (
    ApiKeyCreated,
    CellStartedEvent,
    ErrorOutput,
    HtmlOutput,
    ImageOutput,
    JobData,
    JobFailedError,
    JsonOutput,
    MarkdownOutput,
    OutputEvent,
    ResultEvent,
    StatusEvent,
    TableOutput,
    TextOutput,
    UnknownEvent,
    UnknownOutput,
)
from pyexec_client._display import job_html
from pyexec_client.cli._common import safe_text
from pyexec_client.models import parse_event

ROOT = Path(__file__).resolve().parents[3]


def job_json(**overrides: Any) -> dict[str, Any]:
    job = {
        "id": "a1b2",
        "status": "completed",
        "title": "Sales",
        "prompt": None,
        "code": "df.describe()",
        "priority": 5,
        "timeout_seconds": 120,
        "parent_job_id": None,
        "file_ids": ["file_1"],
        "created_at": "2024-01-15T10:30:00.000Z",
        "started_at": "2024-01-15T10:30:01.000Z",
        "completed_at": "2024-01-15T10:30:02.500Z",
        "result": "42",
        "error_message": None,
        "outputs": [
            {"cell": 1, "type": "text", "name": "stdout", "text": "hello\n"},
            {"cell": 2, "type": "table", "columns": ["a"], "rows": [[1], [2]], "total_rows": 2},
            {"cell": 3, "type": "image", "media_type": "image/png", "name": "figure-1.png",
             "url": "/v1/jobs/a1b2/artifacts/figure-1.png"},
            {"cell": 4, "type": "html", "html": "<b>x</b>"},
            {"cell": 4, "type": "markdown", "text": "*x*"},
            {"cell": 4, "type": "json", "json": {"k": [1]}},
            {"cell": 5, "type": "error", "ename": "ValueError", "evalue": "bad",
             "traceback": "Traceback..."},
            {"cell": 6, "type": "video", "url": "/v"},
        ],
        "artifacts": [{"name": "figure-1.png", "media_type": "image/png", "bytes": 10,
                       "url": "/v1/jobs/a1b2/artifacts/figure-1.png"}],
        "notebook_url": "/v1/jobs/a1b2/notebook",
        "usage": {"cells": 6, "execution_ms": 812, "llm_prompt_tokens": 0,
                  "llm_completion_tokens": 0, "steps": 2},
        "a_field_from_a_newer_server": True,
    }  # fmt: skip
    job.update(overrides)
    return job


def test_a_job_and_every_kind_of_output() -> None:
    job = JobData.from_dict(job_json())
    assert job.is_final and job.succeeded and job.created_at.year == 2024  # type: ignore[union-attr]
    assert [type(o) for o in job.outputs] == [
        TextOutput,
        TableOutput,
        ImageOutput,
        HtmlOutput,
        MarkdownOutput,
        JsonOutput,
        ErrorOutput,
        UnknownOutput,
    ]
    assert job.stdout == "hello\n"
    assert job.tables[0].rows == [[1], [2]] and job.images[0].name == "figure-1.png"
    assert job.outputs[5].json == {"k": [1]}  # type: ignore[attr-defined]
    assert job.outputs[7].type == "video" and job.outputs[7].extra == {"url": "/v"}
    assert job.usage.execution_ms == 812 and job.usage.extra == {"steps": 2}
    assert job.extra == {"a_field_from_a_newer_server": True}
    assert job.to_dict() == job_json()  # what --json prints: the API's object, untouched
    assert job.ungrounded_numbers == [] and job.webhook is None


def test_contract_fields_a_server_may_add() -> None:
    hook = {"url": "https://h.example/hook", "status": "failing", "attempts": 3,
            "last_error": "HTTP 500"}  # fmt: skip
    job = JobData.from_dict(job_json(ungrounded_numbers=[41.5], webhook=hook))
    assert job.ungrounded_numbers == [41.5]
    assert job.webhook is not None and (job.webhook.status, job.webhook.attempts) == (
        "failing",
        3,
    )


def test_table_to_pandas() -> None:
    table = JobData.from_dict(job_json()).tables[0]
    frame = table.to_pandas()
    assert list(frame.columns) == ["a"] and frame["a"].tolist() == [1, 2]


def test_raise_for_status() -> None:
    JobData.from_dict(job_json()).raise_for_status()
    JobData.from_dict(job_json(status="running")).raise_for_status()
    failed = JobData.from_dict(job_json(status="failed", error_message="ZeroDivisionError"))
    with pytest.raises(JobFailedError, match="ZeroDivisionError") as raised:
        failed.raise_for_status()
    assert raised.value.job is failed


def test_events() -> None:
    make = JobData.from_dict
    status = parse_event("status", "1", {"type": "status", "status": "running"}, make)
    assert status == StatusEvent(id="1", status="running")
    started = parse_event(
        "cell_started", "2", {"type": "cell_started", "cell": 1, "source": "x"}, make
    )
    assert started == CellStartedEvent(id="2", cell=1, source="x")
    output = {"output_type": "stream", "name": "stdout", "text": "hi\n"}
    streamed = parse_event("output", "3", {"type": "output", "cell": 1, "output": output}, make)
    assert isinstance(streamed, OutputEvent) and streamed.text == "hi\n"
    value = {"output_type": "execute_result", "data": {"text/plain": "42"}}
    assert parse_event("output", "4", {"cell": 1, "output": value}, make).text == "42"  # type: ignore[attr-defined]
    result = parse_event("result", None, job_json(), make)
    assert isinstance(result, ResultEvent) and result.job.id == "a1b2"
    future = parse_event("cell_profiled", "9", {"cell": 1, "ms": 3}, make)
    assert future == UnknownEvent(type="cell_profiled", id="9", data={"cell": 1, "ms": 3})


def test_a_new_key_keeps_itself_out_of_the_repr() -> None:
    data = {"id": "k1", "name": "ci", "prefix": "abcdefgh", "scopes": ["jobs:read"],
            "created_at": "2024-01-15T10:30:00.000Z", "last_used_at": None,
            "key": "pyex_abcdefgh" + "s" * 35}  # fmt: skip
    created = ApiKeyCreated.from_dict(data)
    assert isinstance(created, ApiKeyCreated) and created.key == data["key"]
    assert "sss" not in repr(created) and created.to_dict() == data


def test_the_notebook_display_escapes_everything_from_the_job() -> None:
    script = "<script>alert(1)</script>"
    png = "/v1/jobs/a1b2/artifacts/figure-1.png"
    outputs = [
        {"cell": 1, "type": "table", "columns": [script], "rows": [[script]], "total_rows": 1},
        {"cell": 1, "type": "html", "html": script},
        {"cell": 2, "type": "image", "media_type": "image/png", "name": script, "url": png},
        {"cell": 2, "type": "image", "media_type": "text/html", "name": "x.html", "url": "/x"},
    ]
    job = JobData.from_dict(job_json(title=script, result=script, outputs=outputs))
    fetched: list[str] = []

    def fetch(image: ImageOutput) -> bytes:
        fetched.append(image.media_type)
        return b"\x89PNG"

    page = job_html(job, fetch)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert fetched == ["image/png"]  # a non-image type is never fetched into the page
    assert 'src="data:image/png;base64,iVBORw==' in page


def test_a_display_survives_an_image_it_cannot_fetch() -> None:
    job = JobData.from_dict(job_json())

    def broken(_: ImageOutput) -> bytes:
        raise OSError("network down")

    assert "figure-1.png (not shown)" in job_html(job, broken)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("plain\ttext\n", "plain\ttext\n"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b]52;c;cGF5bG9hZA==\x07copied?", "copied?"),  # OSC 52 writes the clipboard
        ("\x1b]0;new title\x1b\\x", "x"),
        ("progress 10%\rprogress 20%", "progress 10%\nprogress 20%"),
        ("bell\x07 nul\x00 c1\x9b", "bell nul c1"),
        ("[bold]not markup[/bold]", "[bold]not markup[/bold]"),
    ],
)
def test_text_from_a_job_cannot_drive_the_terminal(raw: str, safe: str) -> None:
    assert safe_text(raw) == safe


def test_versioned_with_the_server() -> None:
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    client = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())
    assert client["project"]["version"] == server == pyexec_client.__version__
