"""`Idempotency-Key` on POST /v1/jobs: replays, conflicts, races, scope and the 24 h window."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.clocked_server import ClockedServer, clocked_server
from tests.support.servers import Server


def new_key() -> str:
    return f"retry-{uuid.uuid4().hex}"


def post(c: httpx.Client, body: dict, key: str) -> httpx.Response:
    return c.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})


def my_job_ids(c: httpx.Client) -> list[str]:
    return [j["id"] for j in c.get("/v1/jobs", params={"limit": 100}).json()["data"]]


def test_same_key_same_body_returns_the_first_job(client: httpx.Client) -> None:
    key = new_key()
    first = post(client, {"code": "print(1)", "title": "once"}, key)
    assert first.status_code == 201, first.text
    before = my_job_ids(client)
    # The same job, whether the body spells out the defaults or not.
    for body in ({"code": "print(1)", "title": "once"}, {"title": "once", "code": "print(1)",
                 "priority": 5, "file_ids": []}):  # fmt: skip
        again = post(client, body, key)
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["location"] == f"/v1/jobs/{first.json()['id']}"
    assert my_job_ids(client) == before
    # Without the header every POST is a new job.
    assert client.post("/v1/jobs", json={"code": "print(1)"}).json()["id"] != first.json()["id"]


def test_same_key_other_body_is_409(client: httpx.Client) -> None:
    key = new_key()
    assert post(client, {"code": "1"}, key).status_code == 201
    resp = post(client, {"code": "2"}, key)
    assert resp.status_code == 409
    error = resp.json()["error"]
    assert error["code"] == "conflict" and error["status"] == 409
    assert "Idempotency-Key" in error["message"]


def test_keys_belong_to_one_account(server: Server, client: httpx.Client) -> None:
    key = new_key()
    mine = post(client, {"code": "1"}, key).json()
    with server.client(server.create_key(f"idem-{uuid.uuid4().hex[:8]}@example.com")) as other:
        theirs = post(other, {"code": "1"}, key)
        assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]


@pytest.mark.parametrize("value", ["", "k" * 256])
def test_bad_key_header_is_400(client: httpx.Client, value: str) -> None:
    resp = post(client, {"code": "1"}, value)
    assert resp.status_code == 400
    assert resp.json()["error"]["details"][0]["field"].endswith("Idempotency-Key")


def test_concurrent_posts_with_one_key_create_exactly_one_job(server: Server, api_key: str) -> None:
    key = new_key()
    body = {"code": "print('raced')"}

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60
        ) as ac:
            return await asyncio.gather(
                *(
                    ac.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
                    for _ in range(10)
                )
            )

    responses = asyncio.run(race())
    assert Counter(r.status_code for r in responses) == {201: 1, 200: 9}, [
        r.text for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    with server.client(api_key) as c:
        assert len(my_job_ids(c)) == 1
        job = c.get(f"/v1/jobs/{responses[0].json()['id']}", params={"wait": 30}).json()
    assert job["status"] == "completed" and job["result"] == "raced"


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedServer]:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with clocked_server(Path(tmp_path_factory.mktemp("clocked-idem")), start) as srv:
        yield srv


def test_keys_are_kept_24_hours(clocked: ClockedServer) -> None:
    key = new_key()
    with clocked.client(clocked.create_key(f"day-{uuid.uuid4().hex[:8]}@example.com")) as c:
        first = post(c, {"code": "1"}, key)
        assert first.status_code == 201
        clocked.clock.advance(timedelta(hours=23, minutes=59))
        assert post(c, {"code": "2"}, key).status_code == 409
        replay = post(c, {"code": "1"}, key)
        assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
        clocked.clock.advance(timedelta(minutes=2))
        # A day later the key is free again: a new job, even with another body.
        later = post(c, {"code": "2"}, key)
        assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
        assert post(c, {"code": "2"}, key).json()["id"] == later.json()["id"]
