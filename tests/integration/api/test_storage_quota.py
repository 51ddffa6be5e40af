"""A plan's storage quota: files, artifacts and notebooks in all, counted atomically, shown on
the account, and given back when they are deleted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATABASES, _database_url
from tests.support.servers import Server, run_job
from tests.support.uploading import upload

QUOTA = 400_000


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    plans = {"business": {"max_storage_bytes": QUOTA, "max_upload_bytes": 300_000}}
    srv = Server(
        Path(tmp_path_factory.mktemp("quota")),
        {"PYEXEC_PLANS": json.dumps(plans), "PYEXEC_KERNEL_POOL_SIZE": "1"},
        database_url=_database_url(request, request.param),
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def c(server: Server, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    with server.client(server.create_key(f"{request.node.name[:40]}@example.com")) as client:
        yield client


def used(c: httpx.Client) -> int:
    account = c.get("/v1/account").json()
    assert account["limits"]["max_storage_bytes"] == QUOTA
    return account["usage"]["storage_bytes"]


def test_uploads_count_and_are_refused_past_the_quota(c: httpx.Client) -> None:
    first = upload(c, b"a" * 250_000, "a.bin")
    assert first.status_code == 201 and used(c) == 250_000
    refused = upload(c, b"b" * 200_000, "b.bin")
    assert refused.status_code == 413
    assert "storage quota of" in refused.json()["error"]["message"]
    assert used(c) == 250_000
    assert len(c.get("/v1/files").json()["data"]) == 1
    assert c.delete(f"/v1/files/{first.json()['id']}").status_code == 204
    assert used(c) == 0


def test_concurrent_uploads_cannot_pass_the_quota_together(c: httpx.Client) -> None:
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: upload(c, b"x" * 150_000, f"{i}.bin"), range(6)))
    accepted = [a for a in answers if a.status_code == 201]
    assert len(accepted) == 2 and all(a.status_code in (201, 413) for a in answers)
    assert used(c) == 300_000


def test_artifacts_past_the_quota_are_left_out_and_deleting_the_job_gives_all_back(
    c: httpx.Client,
) -> None:
    assert upload(c, b"f" * 200_000, "data.bin").status_code == 201
    code = (
        "open('small.txt', 'w').write('s' * 50_000)\n"
        "open('big.txt', 'w').write('b' * 250_000)\n"
    )
    job = run_job(c, {"code": code})
    assert job["status"] == "completed", job
    assert [a["name"] for a in job["artifacts"]] == ["small.txt"]
    notices = [o["text"] for o in job["outputs"] if o.get("name") == "notice"]
    assert any("big.txt" in n and "storage quota" in n for n in notices), notices
    with_job = used(c)
    assert with_job > 250_000  # the file, small.txt and the notebook
    assert c.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert used(c) == 200_000
