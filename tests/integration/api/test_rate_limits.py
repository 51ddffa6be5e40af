"""Daily request quotas over HTTP: the boundary, headers on every response, what does not
count, exactness under concurrency (per counter backend), and the reset at 00:00 UTC."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from pyexec.admin import set_plan
from tests.integration.api.clocked_server import ClockedServer, clocked_server
from tests.servers import Server

QUOTA_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")

# Server settings per request-counter backend; the scaled-out deployment adds its Redis entry
# here and every test below that takes `quota_server` runs against it as well.
COUNTER_BACKENDS: dict[str, dict[str, str]] = {"database": {}}


def email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def remaining(resp: httpx.Response) -> int:
    return int(resp.headers["x-ratelimit-remaining"])


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and error["status"] == status, error
    return error


def jobs_of(server: Server, address: str) -> int:
    query = "SELECT count(*) AS n FROM jobs JOIN accounts ON accounts.id = jobs.account_id"
    return int(server.rows(query + " WHERE accounts.email = :email", email=address)[0]["n"])


def test_free_plan_headers_on_every_response_then_429_at_101(server: Server) -> None:
    address = email("free")
    key = server.create_key(address, "free")
    with server.client(key) as c:
        first = c.get("/v1/jobs")
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit"] == "100"
        assert remaining(first) == 99
        reset = int(first.headers["x-ratelimit-reset"])
        assert reset % 86_400 == 0 and 0 < reset - datetime.now(UTC).timestamp() <= 86_400
        # Errors raised anywhere in a route carry the headers too, and count.
        answers = [
            c.get("/v1/jobs/no-such-job"),  # 404 from the route
            c.get("/v1/jobs", params={"limit": 0}),  # 400 from validation
            c.post("/v1/jobs", content=b"{oops", headers={"Content-Type": "application/json"}),
            c.post("/v1/jobs", json={"code": "1", "timeout_seconds": 61}),  # 403 from the plan
            c.put("/v1/jobs"),  # 405 from the router
            c.get("/v1/no-such-endpoint"),  # 404 from the router
        ]
        assert [r.status_code for r in answers] == [404, 400, 400, 403, 405, 404]
        assert [remaining(r) for r in answers] == [98, 97, 96, 95, 94, 93]
        assert all(r.headers["x-ratelimit-reset"] == str(reset) for r in answers)
        for expected in range(92, -1, -1):
            resp = c.get("/v1/jobs")
            assert resp.status_code == 200 and remaining(resp) == expected
        over = c.get("/v1/jobs")
        error = assert_error(over, 429, "rate_limited")
        midnight = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert error["message"] == f"Daily request limit of 100 reached; resets at {midnight}"
        assert over.headers["x-ratelimit-limit"] == "100" and remaining(over) == 0
        assert 1 <= int(over.headers["retry-after"]) <= 86_400
        # Over the limit, every endpoint is refused before it does anything.
        refused = c.post("/v1/jobs", json={"code": "1"})
        assert_error(refused, 429, "rate_limited")
    assert jobs_of(server, address) == 0


def test_401_and_429_do_not_count(server: Server) -> None:
    address = email("uncounted")
    key = server.create_key(address, "free")
    spare = server.create_key(address, "free")
    with server.client(key) as c:
        keys = c.get("/v1/api-keys").json()["data"]
        spare_id = next(k["id"] for k in keys if spare.startswith("pyex_" + k["prefix"]))
        assert c.delete(f"/v1/api-keys/{spare_id}").status_code == 204
        used = 2
        # A revoked key of this very account, and keys of no account: all 401, none counted.
        for bad in (spare, "pyex_" + "x" * 43, None):
            with server.client(bad) as other:
                assert_error(other.get("/v1/jobs"), 401, "unauthorized")
        resp = c.get("/v1/jobs")
        used += 1
        assert remaining(resp) == 100 - used
        for _ in range(100 - used):
            assert c.get("/v1/jobs").status_code == 200
        for _ in range(5):
            assert_error(c.get("/v1/jobs"), 429, "rate_limited")
    # On a bigger plan the same day's count goes on from 100: the five 429s were not counted.
    asyncio.run(set_plan(server.settings(), address, "pro"))
    with server.client(key) as c:
        resp = c.get("/v1/jobs")
        assert resp.status_code == 200
        assert resp.headers["x-ratelimit-limit"] == "10000"
        assert remaining(resp) == 10_000 - 101


def test_unlimited_plan_sends_no_quota_headers(client: httpx.Client) -> None:
    for resp in (client.get("/v1/jobs"), client.get("/v1/jobs/no-such-job")):
        assert not any(h in resp.headers for h in QUOTA_HEADERS), resp.headers


@pytest.fixture(scope="module", params=sorted(COUNTER_BACKENDS))
def quota_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    env = {"PYEXEC_KERNEL_POOL_SIZE": "1", **COUNTER_BACKENDS[request.param]}
    srv = Server(Path(tmp_path_factory.mktemp(f"quota-{request.param}")), env).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_exactly_the_requests_left_succeed_under_concurrency(quota_server: Server) -> None:
    key = quota_server.create_key(email("burst"), "free")
    with quota_server.client(key) as c:
        for _ in range(80):
            assert c.get("/v1/jobs").status_code == 200

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with httpx.AsyncClient(
            base_url=quota_server.url,
            headers={"Authorization": f"Bearer {key}"},
            limits=limits,
            timeout=60,
        ) as ac:
            return await asyncio.gather(*(ac.get("/v1/jobs") for _ in range(50)))

    responses = asyncio.run(burst())
    assert Counter(r.status_code for r in responses) == {200: 20, 429: 30}
    # Each success saw its own count: no two requests were given the same slot.
    assert sorted(remaining(r) for r in responses if r.status_code == 200) == list(range(20))
    with quota_server.client(key) as c:
        assert c.get("/v1/jobs").status_code == 429


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedServer]:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with clocked_server(Path(tmp_path_factory.mktemp("clocked")), start) as srv:
        yield srv


def test_quota_resets_at_midnight_utc(clocked: ClockedServer) -> None:
    clocked.clock.set(datetime(2026, 12, 1, 23, 59, 58, tzinfo=UTC))
    december_2 = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp())
    key = clocked.create_key(email("midnight"), "free")
    with clocked.client(key) as c:
        for used in range(1, 101):
            resp = c.get("/v1/jobs")
            assert resp.status_code == 200 and remaining(resp) == 100 - used
            assert resp.headers["x-ratelimit-reset"] == str(december_2)
        over = c.get("/v1/jobs")
        error = assert_error(over, 429, "rate_limited")
        assert error["message"].endswith("resets at 2026-12-02T00:00:00Z")
        assert over.headers["retry-after"] == "2"
        clocked.clock.set(datetime(2026, 12, 1, 23, 59, 59, 999_000, tzinfo=UTC))
        assert c.get("/v1/jobs").status_code == 429
        clocked.clock.set(datetime(2026, 12, 2, 0, 0, tzinfo=UTC))
        fresh = c.get("/v1/jobs")
        assert fresh.status_code == 200 and remaining(fresh) == 99
        assert fresh.headers["x-ratelimit-reset"] == str(december_2 + 86_400)
