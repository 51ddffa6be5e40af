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
import redis

from pyexec.admin import set_plan
from pyexec.core.redis_keys import request_count_key
from tests.support.clocked_server import ClockedServer, clocked_server
from tests.support.deployment import deployed
from tests.support.servers import Server
from tests.support.services import PostgresCluster, RedisServer

QUOTA_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")

# Request-counter backends: the embedded `pyexec serve` counts in its database; the scaled-out
# deployment counts in Redis, here with two `pyexec api` processes behind one Redis and one
# PostgreSQL, and every test that takes `quota_servers` spreads its requests over them.
COUNTER_BACKENDS = ("database", "redis")


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


@pytest.fixture(scope="module", params=COUNTER_BACKENDS)
def quota_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    root = Path(tmp_path_factory.mktemp(f"quota-{request.param}"))
    env = {"PYEXEC_KERNEL_POOL_SIZE": "1"}
    if request.param == "database":
        srv = Server(root, env).start()
        try:
            yield [srv]
        finally:
            srv.stop()
        return
    postgres: PostgresCluster = request.getfixturevalue("postgres")
    redis_server: RedisServer = request.getfixturevalue("redis_server")
    with deployed(root, postgres.create_database(), redis_server, env, apis=2) as dep:
        yield dep.apis


def counted_where(srv: Server, address: str) -> dict[str, int]:
    """The account's count for today in each store: the database's table and Redis."""
    account = srv.rows("SELECT id FROM accounts WHERE email = :email", email=address)[0]["id"]
    day = datetime.now(UTC).date()
    rows = srv.rows(
        "SELECT count FROM request_counts WHERE account_id = :a AND day = :d", a=account, d=day
    )
    counts = {"database": int(rows[0]["count"]) if rows else 0, "redis": 0}
    if srv.redis_url:
        with redis.Redis.from_url(srv.redis_url) as r:
            counts["redis"] = int(r.get(request_count_key(account, day)) or 0)
    return counts


def test_exactly_the_requests_left_succeed_under_concurrency(
    request: pytest.FixtureRequest, quota_servers: list[Server]
) -> None:
    address = email("burst")
    key = quota_servers[0].create_key(address, "free")
    for i in range(80):
        with quota_servers[i % len(quota_servers)].client(key) as c:
            assert c.get("/v1/jobs").status_code == 200

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        clients = [
            httpx.AsyncClient(
                base_url=srv.url,
                headers={"Authorization": f"Bearer {key}"},
                limits=limits,
                timeout=60,
            )
            for srv in quota_servers
        ]
        try:
            return await asyncio.gather(
                *(clients[i % len(clients)].get("/v1/jobs") for i in range(50))
            )
        finally:
            for client in clients:
                await client.aclose()

    responses = asyncio.run(burst())
    assert Counter(r.status_code for r in responses) == {200: 20, 429: 30}
    # Each success saw its own count: no two requests were given the same slot.
    assert sorted(remaining(r) for r in responses if r.status_code == 200) == list(range(20))
    # Both processes served part of the burst, and both now refuse.
    assert len({r.request.url.port for r in responses}) == len(quota_servers)
    for srv in quota_servers:
        with srv.client(key) as c:
            assert c.get("/v1/jobs").status_code == 429
    # Counted in the backend under test, and only there.
    backend = request.node.callspec.params["quota_servers"]
    expected = {"database": 0, "redis": 0, backend: 100}
    assert counted_where(quota_servers[0], address) == expected


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
