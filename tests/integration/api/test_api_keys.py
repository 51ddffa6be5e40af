"""API keys over HTTP and the CLI: scopes, the key shown once, listing, revocation, isolation
between accounts, and last_used_at refreshed at most once a minute."""

from __future__ import annotations

import hashlib
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.clocked_server import ClockedServer, clocked_server
from tests.support.servers import PYEXEC, ROOT, Server

KEY_SHAPE = re.compile(r"^pyex_[A-Za-z0-9_-]{32,}$")


def email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def error_of(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and error["status"] == status, error
    return error


def make_key(c: httpx.Client, name: str, scopes: list[str] | None = None) -> dict:
    body = {"name": name, **({"scopes": scopes} if scopes is not None else {})}
    resp = c.post("/v1/api-keys", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_create_shows_the_key_once_and_stores_only_its_hash(
    server: Server, client: httpx.Client
) -> None:
    created = make_key(client, "ci", ["jobs:read", "jobs:write"])
    key = created["key"]
    assert KEY_SHAPE.match(key)
    assert created["prefix"] == key[5:13]
    assert created["name"] == "ci" and created["scopes"] == ["jobs:read", "jobs:write"]
    assert created["created_at"].endswith("Z") and created["last_used_at"] is None
    listed = client.get("/v1/api-keys").json()["data"]
    mine = next(k for k in listed if k["id"] == created["id"])
    assert "key" not in mine and all("key" not in k for k in listed)
    assert {k: v for k, v in created.items() if k != "key"} == mine
    [stored] = server.rows("SELECT * FROM api_keys WHERE id = :id", id=created["id"])
    assert stored["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert not any(isinstance(v, str) and key[5:] in v for v in stored.values())
    # A new key defaults to every scope.
    assert make_key(client, "all")["scopes"] == [
        "jobs:read",
        "jobs:write",
        "files:read",
        "files:write",
        "keys:manage",
    ]


def test_scopes_are_enforced_per_endpoint(server: Server, client: httpx.Client) -> None:
    made = make_key(client, "reader", ["jobs:read"])
    reader, reader_id = made["key"], made["id"]
    made = make_key(client, "writer", ["jobs:write"])
    writer, writer_id = made["key"], made["id"]
    manager = make_key(client, "manager", ["keys:manage", "jobs:read"])["key"]
    with server.client(reader) as c:
        assert c.get("/v1/jobs").status_code == 200
        error = error_of(c.post("/v1/jobs", json={"code": "1"}), 403, "forbidden")
        assert "jobs:write" in error["message"]
        assert "keys:manage" in error_of(c.get("/v1/api-keys"), 403, "forbidden")["message"]
        error_of(c.post("/v1/api-keys", json={"name": "x"}), 403, "forbidden")
    with server.client(writer) as c:
        assert c.post("/v1/jobs", json={"code": "1"}).status_code == 201
        error_of(c.get("/v1/jobs"), 403, "forbidden")
    with server.client(manager) as c:
        assert c.get("/v1/api-keys").status_code == 200
        # A key cannot mint a key with scopes it does not hold itself.
        error = error_of(
            c.post("/v1/api-keys", json={"name": "up", "scopes": ["jobs:write"]}), 403, "forbidden"
        )
        assert "jobs:write" in error["message"]
        assert make_key(c, "down", ["jobs:read"])["scopes"] == ["jobs:read"]
        # Nor revoke a key stronger than itself; its own, or a weaker one, it may.
        error = error_of(c.delete(f"/v1/api-keys/{writer_id}"), 403, "forbidden")
        assert "jobs:write" in error["message"]
        assert c.delete(f"/v1/api-keys/{reader_id}").status_code == 204
    with server.client(writer) as c:
        assert c.post("/v1/jobs", json={"code": "1"}).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "x", "scopes": ["jobs:admin"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": 5}, "name"),
        ({"name": "x", "extra": 1}, "extra"),
    ],
)
def test_bad_key_bodies_are_400(client: httpx.Client, body: dict, field: str) -> None:
    error = error_of(client.post("/v1/api-keys", json=body), 400, "invalid_request")
    assert any(d["field"] == field for d in error["details"]), error


def test_revoked_key_fails_from_the_next_request(server: Server, client: httpx.Client) -> None:
    spare = make_key(client, "spare", ["jobs:read"])
    with server.client(spare["key"]) as c:
        assert c.get("/v1/jobs").status_code == 200
        assert client.delete(f"/v1/api-keys/{spare['id']}").status_code == 204
        resp = c.get("/v1/jobs")
        error_of(resp, 401, "unauthorized")
        assert resp.headers["www-authenticate"] == "Bearer"
    assert spare["id"] not in [k["id"] for k in client.get("/v1/api-keys").json()["data"]]
    error_of(client.delete(f"/v1/api-keys/{spare['id']}"), 404, "not_found")
    # A key may revoke itself; it is then refused like any other revoked key.
    own = make_key(client, "self")
    with server.client(own["key"]) as c:
        assert c.delete(f"/v1/api-keys/{own['id']}").status_code == 204
        error_of(c.get("/v1/api-keys"), 401, "unauthorized")


def test_accounts_see_only_their_own_keys_and_jobs(server: Server, client: httpx.Client) -> None:
    mine = make_key(client, "mine")
    job = client.post("/v1/jobs", json={"code": "1"}).json()
    with server.client(server.create_key(email("stranger"), "pro")) as other:
        assert mine["id"] not in [k["id"] for k in other.get("/v1/api-keys").json()["data"]]
        error_of(other.delete(f"/v1/api-keys/{mine['id']}"), 404, "not_found")
        error_of(other.get(f"/v1/jobs/{job['id']}"), 404, "not_found")
        error_of(other.post(f"/v1/jobs/{job['id']}/cancel"), 404, "not_found")
    with server.client(mine["key"]) as c:
        assert c.get("/v1/jobs").status_code == 200


def pyexec_cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    # The server's environment: its data dir, and its database (SQLite or PostgreSQL).
    return subprocess.run(
        [*PYEXEC, *args], env=server.env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_operator_cli_manages_accounts_plans_and_keys(server: Server) -> None:
    address = email("operator")
    made = pyexec_cli(server, "accounts", "create", "--email", address, "--plan", "pro")
    assert made.returncode == 0, made.stderr
    again = pyexec_cli(server, "accounts", "create", "--email", address)
    assert again.returncode == 1 and "exists" in again.stderr
    created = pyexec_cli(
        server, "keys", "create", "--email", address, "--name", "ci", "--scopes",
        "jobs:read,jobs:write",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert KEY_SHAPE.match(key)
    with server.client(key) as c:
        resp = c.get("/v1/jobs")
        assert resp.status_code == 200 and resp.headers["x-ratelimit-limit"] == "10000"
        error_of(c.get("/v1/api-keys"), 403, "forbidden")
    listed = pyexec_cli(server, "keys", "list", "--email", address)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if key[5:13] in line)
    assert key not in listed.stdout
    assert "ci" in row and "jobs:read,jobs:write" in row
    key_id = row.split()[0]
    upgraded = pyexec_cli(server, "accounts", "set-plan", "--email", address, "--plan", "business")
    assert upgraded.returncode == 0, upgraded.stderr
    with server.client(key) as c:
        resp = c.get("/v1/jobs")
        assert resp.status_code == 200 and "x-ratelimit-limit" not in resp.headers
    revoked = pyexec_cli(server, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    with server.client(key) as c:
        error_of(c.get("/v1/jobs"), 401, "unauthorized")
    unknown = pyexec_cli(server, "keys", "revoke", key_id)
    assert unknown.returncode == 1 and "no active key" in unknown.stderr
    bad_scope = pyexec_cli(server, "keys", "create", "--email", address, "--scopes", "root")
    assert bad_scope.returncode == 1 and "unknown scope" in bad_scope.stderr


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedServer]:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with clocked_server(Path(tmp_path_factory.mktemp("clocked-keys")), start) as srv:
        yield srv


def test_last_used_at_is_refreshed_at_most_once_a_minute(clocked: ClockedServer) -> None:
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    clocked.clock.set(t0)

    def last_used(c: httpx.Client) -> str:
        return c.get("/v1/api-keys").json()["data"][0]["last_used_at"]

    with clocked.client(clocked.create_key(email("touch"), "business")) as c:
        assert last_used(c) == "2026-12-01T12:00:00.000Z"
        clocked.clock.advance(timedelta(seconds=59))
        assert last_used(c) == "2026-12-01T12:00:00.000Z"
        clocked.clock.advance(timedelta(seconds=1))
        assert last_used(c) == "2026-12-01T12:01:00.000Z"
