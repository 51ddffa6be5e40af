"""A small Server-Sent Events client for tests, and the resume check both deployments pass."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class SseEvent:
    event: str = "message"
    id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    current, data_lines, fields = SseEvent(), [], 0
    for line in lines:
        if line == "":
            if fields and data_lines:
                current.data = json.loads("\n".join(data_lines))
                yield current
            current, data_lines, fields = SseEvent(), [], 0
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        fields += 1
        if name == "event":
            current.event = value
        elif name == "id":
            current.id = value
        elif name == "data":
            data_lines.append(value)


def read_events(
    client: httpx.Client,
    job_id: str,
    *,
    last_event_id: str | None = None,
    until: Callable[[SseEvent], bool] | None = None,
) -> list[SseEvent]:
    """Read the job's stream until it ends, or until `until(event)` (then hang up)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[SseEvent] = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for event in parse_sse(resp.iter_lines()):
            events.append(event)
            if until is not None and until(event):
                break
    return events


def _text(event: SseEvent) -> str:
    output = event.data.get("output") or {}
    if "text" in output:
        return str(output["text"])
    return str((output.get("data") or {}).get("text/plain", ""))


def check_resume_without_gaps(client: httpx.Client) -> None:
    """A three-cell job read live, cut off mid-cell, resumed by Last-Event-ID, then replayed.

    The second cell waits for a file this client creates in the kernel's working directory
    (the one place a sandboxed kernel shares with its host) only after it has seen the cell's
    first line: the line must have streamed while the cell ran.
    """
    code = (
        "print('one')\n"
        "# %%\n"
        "import os, time\n"
        "print('two', os.getcwd(), flush=True)\n"
        "while not os.path.exists('go'): time.sleep(0.02)\n"
        "print('three')\n"
        "# %%\n"
        "6 * 7"
    )
    created = client.post("/v1/jobs", json={"code": code, "title": "streamed"})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]

    first = read_events(client, job_id, until=lambda e: e.event == "output" and "two" in _text(e))
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
    work_dir = _text(first[-1]).split(maxsplit=1)[1].strip()
    (Path(work_dir) / "go").touch()
    rest = read_events(client, job_id, last_event_id=first[-1].id)
    full = read_events(client, job_id)  # after the end: the whole log, then the result

    for stream in (rest, full):
        assert stream[-1].event == "result"
        assert stream[-1].data["status"] == "completed" and stream[-1].data["result"] == "42"
    joined = [e for e in first + rest if e.event != "result"]
    logged = [e for e in full if e.event != "result"]
    assert [e.id for e in joined] == [e.id for e in logged]  # no gap, no repeat
    assert len({e.id for e in logged}) == len(logged)
    shape = [(e.event, e.data["status"] if e.event == "status" else e.data["cell"]) for e in logged]
    assert shape == [
        ("status", "pending"),
        ("status", "running"),
        ("cell_started", 1),
        ("output", 1),
        ("cell_finished", 1),
        ("cell_started", 2),
        ("output", 2),
        ("output", 2),
        ("cell_finished", 2),
        ("cell_started", 3),
        ("output", 3),
        ("cell_finished", 3),
        ("status", "completed"),
    ]
    texts = [_text(e).split()[0] for e in logged if e.event == "output"]
    assert texts == ["one", "two", "three", "42"]
