"""/v1/files over a real server: uploads and their edge cases, listing, content, deletes, and
files placed in a job's working directory."""

from __future__ import annotations

import hashlib
import os
from urllib.parse import quote

import httpx
import pytest

from tests.support.servers import ALSO_ON_GATEWAY, Server, run_job
from tests.support.uploading import (
    DATA,
    multipart,
    post_multipart,
    scoped_key,
    upload,
    upload_ok,
)


def test_upload_then_metadata_content_list_and_delete(server: Server) -> None:
    content = (DATA / "sales_small.csv").read_bytes()
    with server.client(server.create_key("files-crud@example.com")) as c:
        resp = upload(c, content, "sales.csv", "application/octet-stream")
        assert resp.status_code == 201, resp.text
        meta = resp.json()
        assert set(meta) == {"id", "filename", "bytes", "media_type", "sha256", "created_at"}
        assert (
            meta["id"].startswith("file_") and resp.headers["location"] == f"/v1/files/{meta['id']}"
        )
        assert meta["filename"] == "sales.csv" and meta["bytes"] == len(content)
        assert meta["media_type"] == "text/csv"
        assert meta["sha256"] == hashlib.sha256(content).hexdigest()
        assert meta["created_at"].endswith("Z")
        assert c.get(f"/v1/files/{meta['id']}").json() == meta

        got = c.get(f"/v1/files/{meta['id']}/content")
        assert got.status_code == 200 and got.content == content
        assert got.headers["content-type"].startswith("text/csv")
        assert got.headers["content-disposition"] == 'attachment; filename="sales.csv"'
        assert got.headers["x-content-type-options"] == "nosniff"

        stored = server.data_dir / "files" / meta["id"]
        assert stored.read_bytes() == content
        assert c.delete(f"/v1/files/{meta['id']}").status_code == 204
        assert not stored.exists()
        for path in (f"/v1/files/{meta['id']}", f"/v1/files/{meta['id']}/content"):
            assert c.get(path).status_code == 404
        assert c.delete(f"/v1/files/{meta['id']}").json()["error"]["code"] == "not_found"


def test_list_is_newest_first_and_paginates(server: Server) -> None:
    with server.client(server.create_key("files-list@example.com")) as c:
        ids = [upload_ok(c, f"{i}".encode(), f"f{i}.txt")["id"] for i in range(5)]
        seen, cursor = [], None
        while True:
            page = c.get("/v1/files", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200
            seen += [f["id"] for f in page.json()["data"]]
            cursor = page.json()["next_cursor"]
            if not cursor:
                break
        assert seen == ids[::-1]
        assert c.get("/v1/files", params={"cursor": "nope"}).status_code == 400
        assert c.get("/v1/files", params={"limit": 0}).status_code == 400


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (b"../../etc/passwd", "passwd"),
        (b"C:\\Users\\ana\\q1.csv", "q1.csv"),
        (b".env", "env"),
        (b"", "file"),
        (b"..", "file"),
        (b"tab\there\x01\x7f.csv", "tab here.csv"),
        ("données été.csv".encode(), "données été.csv"),
        (b"\xff\xfe.csv", "\ufffd\ufffd.csv"),
    ],
)
def test_filenames_are_sanitised(client: httpx.Client, sent: bytes, stored: str) -> None:
    resp = post_multipart(client, multipart(sent, b"a,b\n1,2\n"))
    assert resp.status_code == 201, resp.text
    meta = resp.json()
    assert meta["filename"] == stored
    content = client.get(f"/v1/files/{meta['id']}/content")
    disposition = content.headers["content-disposition"]
    if stored.isascii():
        assert disposition == f'attachment; filename="{stored}"'
    else:
        assert disposition.endswith(f"filename*=UTF-8''{quote(stored, safe='')}")


def test_empty_binary_and_non_utf8_files_round_trip(client: httpx.Client) -> None:
    empty = upload_ok(client, b"", "empty.csv")
    assert empty["bytes"] == 0 and empty["sha256"] == hashlib.sha256(b"").hexdigest()
    assert client.get(f"/v1/files/{empty['id']}/content").content == b""

    binary = os.urandom(300_000)
    meta = upload_ok(client, binary, "blob")
    assert meta["media_type"] == "application/octet-stream"
    assert client.get(f"/v1/files/{meta['id']}/content").content == binary

    png = upload_ok(client, b"\x89PNG\r\n\x1a\n" + os.urandom(64), "looks-like.csv")
    assert png["media_type"] == "image/png"

    latin1 = (DATA / "latin1.csv").read_bytes()
    meta = upload_ok(client, latin1, "villes.csv")
    assert meta["media_type"] == "text/csv"
    assert client.get(f"/v1/files/{meta['id']}/content").content == latin1


@pytest.mark.parametrize(
    ("body", "headers", "problem"),
    [
        (b'{"file": "x"}', {"Content-Type": "application/json"}, "expected a multipart"),
        (b"x", {"Content-Type": "multipart/form-data"}, "expected a multipart"),
        (
            b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n',
            {"Content-Type": "multipart/form-data; boundary=b"},
            "field required",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nxx',
            {"Content-Type": "multipart/form-data; boundary=b"},
            "incomplete",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n1\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="b"\r\n\r\n2\r\n'
            b"--b--\r\n",
            {"Content-Type": "multipart/form-data; boundary=b"},
            "more than once",
        ),
        (b"garbage", {"Content-Type": "multipart/form-data; boundary=b"}, "malformed"),
        (
            b"--" + b"b" * 300 + b"--\r\n",
            {"Content-Type": "multipart/form-data; boundary=" + "b" * 300},
            "boundary too long",
        ),
    ],
)
def test_bad_upload_bodies_are_400(
    client: httpx.Client, body: bytes, headers: dict, problem: str
) -> None:
    resp = client.post("/v1/files", content=body, headers=headers)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request"
    assert any(d["field"] == "file" and problem in d["problem"] for d in error["details"]), error


def test_other_accounts_files_do_not_exist(server: Server, client: httpx.Client) -> None:
    meta = upload_ok(client, b"secret", "secret.txt")
    with server.client(server.create_key("files-other@example.com")) as other:
        for path in (f"/v1/files/{meta['id']}", f"/v1/files/{meta['id']}/content"):
            assert other.get(path).status_code == 404
        assert other.delete(f"/v1/files/{meta['id']}").status_code == 404
        assert meta["id"] not in [f["id"] for f in other.get("/v1/files").json()["data"]]
        resp = other.post("/v1/jobs", json={"code": "1", "file_ids": [meta["id"]]})
        assert resp.status_code == 404 and meta["id"] in resp.json()["error"]["message"]
        assert other.get("/v1/jobs").json()["data"] == []
    assert client.get(f"/v1/files/{meta['id']}/content").content == b"secret"


def test_scopes(server: Server) -> None:
    with server.client(scoped_key(server, ["jobs:read", "jobs:write", "files:read"])) as c:
        resp = upload(c, b"x", "x.txt")
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
        assert c.get("/v1/files").status_code == 200
    with server.client(scoped_key(server, ["files:write"])) as c:
        assert upload(c, b"x", "x.txt").status_code == 201
        assert c.get("/v1/files").status_code == 403


@ALSO_ON_GATEWAY
def test_job_reads_its_files_by_name_read_only(client: httpx.Client) -> None:
    sales = upload_ok(client, (DATA / "sales_small.csv").read_bytes(), "../sales.csv")
    villes = upload_ok(client, (DATA / "latin1.csv").read_bytes(), "villes.csv")
    code = (
        "import os, stat, pandas as pd\n"
        "df = pd.read_csv('sales.csv')\n"
        "v = pd.read_csv('villes.csv', encoding='latin-1')\n"
        "print(len(df), v['température'].max(), v['ville'][0])\n"
        "print(sorted(n for n in os.listdir('.') if not n.startswith('.')))\n"
        "print(oct(stat.S_IMODE(os.stat('sales.csv').st_mode)))"
    )
    job = run_job(client, {"code": code, "file_ids": [sales["id"], villes["id"]]})
    assert job["status"] == "completed", job
    lines = job["result"].splitlines()
    assert lines == ["5 25.1 Zürich", "['sales.csv', 'villes.csv']", "0o444"]
    # Inputs are not things the job made.
    assert job["artifacts"] == []
    assert job["file_ids"] == [sales["id"], villes["id"]]


@ALSO_ON_GATEWAY
def test_names_must_differ_and_ids_must_exist(client: httpx.Client) -> None:
    first = upload_ok(client, b"a\n1\n", "data.csv")
    second = upload_ok(client, b"a\n2\n", "Data.csv")
    before = len(client.get("/v1/jobs", params={"limit": 100}).json()["data"])

    resp = client.post("/v1/jobs", json={"code": "1", "file_ids": [first["id"], second["id"]]})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert "data.csv" in error["message"] and error["details"][0]["field"] == "file_ids"

    resp = client.post("/v1/jobs", json={"code": "1", "file_ids": [first["id"], first["id"]]})
    assert resp.status_code == 400 and "twice" in resp.json()["error"]["message"]

    missing = "file_00000000000000000000000000000000"
    resp = client.post("/v1/jobs", json={"code": "1", "file_ids": [first["id"], missing]})
    assert resp.status_code == 404 and missing in resp.json()["error"]["message"]
    assert len(client.get("/v1/jobs", params={"limit": 100}).json()["data"]) == before
