"""`PYEXEC_LOG_FORMAT=json` on the embedded service: real jobs through a real socket, and every
line the process writes is one JSON object; the worker's lines for a job say which job, which
account and which request created it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import Server, run_job

JSON_LOGS = {
    "PYEXEC_LOG_FORMAT": "json",
    "PYEXEC_LOG_LEVEL": "info",
    "PYEXEC_KERNEL_INTERRUPT_GRACE": "1",
}
# A cell that swallows the interrupt at its time limit: the kernel is killed, and says so.
STUBBORN = """
import time
while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
"""


def json_lines(text: str) -> list[dict[str, Any]]:
    """Each line of `text` as JSON (a line that is not fails the test, naming it)."""
    parsed = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        parsed.append(entry)
    return parsed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(Path(tmp_path_factory.mktemp("json-logs")), env_overrides=JSON_LOGS).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_each_line_is_json_and_a_jobs_lines_carry_its_ids(server: Server) -> None:
    key = server.create_key("logs@example.com")
    request_id = f"req-{uuid.uuid4().hex}"
    with server.client(key) as client:
        client.headers["X-Request-ID"] = request_id
        job = run_job(client, {"code": "print(6 * 7)"})
        assert job["status"] == "completed", job
        stubborn = run_job(client, {"code": STUBBORN, "timeout_seconds": 3})
        assert stubborn["status"] == "failed", stubborn
    # The dashboard's pages name their signed-in account too (a session cookie, not a key).
    banner = [json.loads(line) for line in server.log_path.read_text().splitlines()[:10]]
    (link,) = [
        entry["message"].split()[1] for entry in banner if entry["message"].startswith("Dashboard:")
    ]
    with httpx.Client(timeout=60) as browser:
        assert browser.get(link).status_code in (302, 303), link
        page_request = f"page-{uuid.uuid4().hex}"
        page = browser.get(f"{server.url}/jobs", headers={"X-Request-ID": page_request})
        assert page.status_code == 200
    server.stop()  # the shutdown's lines too

    lines = json_lines(server.log_path.read_text())
    account_ids = {line["account_id"] for line in lines if line.get("request_id") == request_id}
    assert len(account_ids) == 1, account_ids  # the caller's account, known after auth

    for one in (job, stubborn):
        of_job = [line for line in lines if line.get("job_id") == one["id"]]
        workers = [line for line in of_job if line["logger"].startswith("pyexec.worker")]
        assert workers, f"no worker line for job {one['id']}: {of_job}"
        for line in of_job:
            assert line["request_id"] == request_id, line
            assert line["account_id"] in account_ids, line
    access = [line for line in lines if line["logger"] == "pyexec.access"]
    posted = [line for line in access if "POST /v1/jobs" in line["message"]]
    assert posted and all(line["request_id"] == request_id for line in posted)
    # The kernel's events during the job carry it too.
    killed = [line for line in lines if "ignored an interrupt" in line["message"]]
    assert killed, "the stubborn kernel was not killed"
    for line in killed:
        assert line["logger"].startswith("pyexec.kernels"), line
        assert line["job_id"] == stubborn["id"] and line["request_id"] == request_id, line
    (page_line,) = [line for line in access if line.get("request_id") == page_request]
    assert page_line.get("account_id"), page_line
    # uvicorn's own lines come through the same formatter, without terminal colours.
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    assert not any("\x1b" in json.dumps(line, ensure_ascii=False) for line in lines)
