"""Upload and artifact limits, on a server of their own with small limits: refusing a 2 GB
upload is tested without sending 2 GB."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from tests.support.servers import Server, run_job
from tests.support.uploading import (
    part_head,
    raw_upload_head,
    read_response,
    scoped_key,
    send_until_answered,
    strict_json,
    upload,
    upload_ok,
)

LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        Path(tmp_path_factory.mktemp("pyexec-limits")),
        {
            "PYEXEC_PLANS": json.dumps({"business": {"max_upload_bytes": LIMIT}}),
            "PYEXEC_ARTIFACT_MAX_FILES": "3",
            "PYEXEC_ARTIFACT_MAX_BYTES": "300000",
            "PYEXEC_KERNEL_POOL_SIZE": "1",
        },
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def key(small_server: Server) -> str:
    return small_server.create_key("limits@example.com")


@pytest.fixture
def c(small_server: Server, key: str) -> Iterator[httpx.Client]:
    with small_server.client(key) as client:
        yield client


def _nothing_left_behind(server: Server, c: httpx.Client, files_before: int) -> None:
    incoming = server.data_dir / "files" / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []
    assert len(c.get("/v1/files", params={"limit": 100}).json()["data"]) == files_before
    files = server.data_dir / "files"
    stored = [p for p in files.iterdir() if not p.name.startswith(".")] if files.exists() else []
    assert len(stored) == files_before


def test_at_the_limit_is_accepted_one_byte_over_is_413(
    small_server: Server, c: httpx.Client
) -> None:
    before = len(c.get("/v1/files", params={"limit": 100}).json()["data"])
    assert upload_ok(c, b"x" * LIMIT, "exact.bin")["bytes"] == LIMIT
    resp = upload(c, b"x" * (LIMIT + 1), "over.bin")
    assert resp.status_code == 413
    error = resp.json()["error"]
    assert error == {
        "code": "payload_too_large",
        "status": 413,
        "message": "The file is over this account's upload limit of 1 MB (1048576 bytes).",
    }
    _nothing_left_behind(small_server, c, before + 1)


def test_declared_2gb_is_refused_before_the_body_is_read(
    small_server: Server, c: httpx.Client, key: str
) -> None:
    before = len(c.get("/v1/files", params={"limit": 100}).json()["data"])
    with socket.create_connection(("127.0.0.1", small_server.port)) as sock:
        sock.sendall(raw_upload_head(key, content_length=2 * 1024**3) + part_head())
        sock.sendall(b"\0" * 4096)
        status, body = read_response(sock)
    assert status == 413 and strict_json(body.decode())["error"]["code"] == "payload_too_large"
    _nothing_left_behind(small_server, c, before)


def test_chunked_upload_without_length_is_cut_off_at_the_limit(
    small_server: Server, c: httpx.Client, key: str
) -> None:
    before = len(c.get("/v1/files", params={"limit": 100}).json()["data"])
    piece = b"\0" * 65536
    pieces = 2048  # 128 MB offered; the server must answer long before
    with socket.create_connection(("127.0.0.1", small_server.port)) as sock:
        sock.sendall(raw_upload_head(key, content_length=None))
        head = part_head()
        sock.sendall(f"{len(head):x}\r\n".encode() + head + b"\r\n")
        sent = send_until_answered(sock, pieces, piece, chunked=True)
        status, body = read_response(sock)
    assert status == 413, body
    print(f"chunked upload: {sent} bytes sent before the 413")
    assert sent < pieces * len(piece) // 4, f"the server read {sent} bytes before refusing"
    _nothing_left_behind(small_server, c, before)


def test_artifact_caps_keep_figures_first_and_say_what_was_left_out(
    small_server: Server, c: httpx.Client
) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3]); plt.show()\n"
        "open('a-big.bin', 'wb').write(b'x' * 400_000)\n"
        "for name in 'bcdef':\n"
        "    open(f'{name}.csv', 'w').write('v\\n' * 25_000)\n"
    )
    job = run_job(c, {"code": code, "title": "caps"})
    assert job["status"] == "completed", job
    names = [a["name"] for a in job["artifacts"]]
    assert names == ["figure-1.png", "b.csv", "c.csv"]
    image = next(o for o in job["outputs"] if o["type"] == "image")
    assert image["url"] == f"/v1/jobs/{job['id']}/artifacts/figure-1.png"
    notice = next(o for o in job["outputs"] if o.get("name") == "notice")
    assert notice["type"] == "text"
    assert (
        "a-big.bin (390.6 KB): it would take the job's artifacts over their cap" in notice["text"]
    )
    for name in ("d.csv", "e.csv", "f.csv"):
        assert f"{name} (48.8 KB): the job's cap of 3 artifacts was reached" in notice["text"]
    assert c.get(f"/v1/jobs/{job['id']}/artifacts/d.csv").status_code == 404
    nb = nbformat.reads(c.get(f"/v1/jobs/{job['id']}/notebook").text, as_version=4)
    assert len(nb.metadata.pyexec["skipped_artifacts"]) == 4
    stored = small_server.data_dir / "jobs" / job["id"] / "artifacts"
    assert sorted(p.name for p in stored.iterdir()) == ["b.csv", "c.csv", "figure-1.png"]


def test_an_input_deleted_before_the_job_runs_fails_it_clearly(c: httpx.Client) -> None:
    meta = upload_ok(c, b"a\n1\n", "gone.csv")
    # Hold the only kernel so that the next job waits in the queue.
    blocker = c.post("/v1/jobs", json={"code": "import time; time.sleep(2)"}).json()
    for _ in range(100):
        if c.get(f"/v1/jobs/{blocker['id']}").json()["status"] == "running":
            break
        time.sleep(0.05)
    job = c.post("/v1/jobs", json={"code": "open('gone.csv').read()", "file_ids": [meta["id"]]})
    assert job.status_code == 201
    assert c.delete(f"/v1/files/{meta['id']}").status_code == 204
    done = c.get(f"/v1/jobs/{job.json()['id']}", params={"wait": 60}).json()
    assert done["status"] == "failed"
    assert done["error_message"] == f"input file {meta['id']} was deleted before the job ran"


def _raw_json_head(key: str, *, content_length: int | None) -> bytes:
    length = (
        f"Content-Length: {content_length}\r\n"
        if content_length is not None
        else "Transfer-Encoding: chunked\r\n"
    )
    return (
        f"POST /v1/jobs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\n{length}\r\n"
    ).encode()


def test_a_key_without_the_scope_is_refused_before_its_body_is_read(
    small_server: Server,
) -> None:
    files_only = scoped_key(small_server, ["files:read"])
    with socket.create_connection(("127.0.0.1", small_server.port)) as sock:
        sock.sendall(_raw_json_head(files_only, content_length=300 * 1024**2))
        sent = send_until_answered(sock, 4096, b" " * 65536, chunked=False)
        status, body = read_response(sock)
    assert status == 403, body
    assert strict_json(body.decode())["error"]["message"] == (
        "This API key lacks the 'jobs:write' scope."
    )
    assert sent < 64 * 1024**2, f"the server read {sent} bytes before refusing"


def test_a_json_body_over_the_limit_is_413_before_or_while_it_is_read(
    small_server: Server, key: str
) -> None:
    with socket.create_connection(("127.0.0.1", small_server.port)) as sock:
        sock.sendall(_raw_json_head(key, content_length=300 * 1024**2) + b'{"code": "')
        status, body = read_response(sock)
    assert status == 413
    assert strict_json(body.decode())["error"]["message"].startswith(
        "The request body is over 4 MB (4194304 bytes)"
    )
    with socket.create_connection(("127.0.0.1", small_server.port)) as sock:
        sock.sendall(_raw_json_head(key, content_length=None))
        sent = send_until_answered(sock, 2048, b" " * 65536, chunked=True)
        status, body = read_response(sock)
    assert status == 413, body
    assert sent < 16 * 1024**2, f"the server read {sent} bytes before refusing"


def test_a_job_body_near_the_limit_is_still_accepted(c: httpx.Client) -> None:
    # 1,000,000 bytes of code, escaped by json.dumps (non-ASCII triples in size): accepted.
    code = "s = '" + "é" * 499_990 + "'\nprint(len(s))"
    assert len(code.encode()) <= 1_000_000
    job = run_job(c, {"code": code})
    assert job["status"] == "completed" and job["result"] == "499990", job
