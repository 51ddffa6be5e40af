"""Webhooks end to end: a real receiver (an HTTP server socket in the test) gets the signed job
object when a job ends, retries on failures, and a delivery gives up after its window; URLs
that point inside the network are refused at submission."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyexec_client import PyExec, verify_webhook
from tests.conftest import DATABASES
from tests.support import metrics as metrics_page
from tests.support.servers import Server
from tests.support.webhook_receiver import RECEIVER_ENV, Receiver, receiving

# Loopback http receivers are allowed on this server; retries come quickly, and a delivery is
# given up WINDOW_SECONDS after its job ended.
WINDOW_SECONDS = 12
HOOKED_ENV = {**RECEIVER_ENV, "PYEXEC_WEBHOOK_RETRY_WINDOW_SECONDS": str(WINDOW_SECONDS)}
WAIT_SECONDS = 60.0


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


@pytest.fixture(scope="module", params=DATABASES)
def hooked_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres").create_database()
    srv = Server(
        Path(tmp_path_factory.mktemp("hooked")), env_overrides=HOOKED_ENV, database_url=database_url
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def hooked(hooked_server: Server) -> Iterator[httpx.Client]:
    key = hooked_server.create_key(f"hooks-{uuid.uuid4().hex[:8]}@example.com")
    with hooked_server.client(key) as c:
        yield c


def _wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _submit(client: httpx.Client, url: str, code: str = "print(6 * 7)") -> dict[str, Any]:
    created = client.post("/v1/jobs", json={"code": code, "webhook_url": url})
    assert created.status_code == 201, created.text
    job: dict[str, Any] = created.json()
    assert job["webhook"] == {"url": url, "status": "pending", "attempts": 0, "last_error": None}
    done = client.get(f"/v1/jobs/{job['id']}", params={"wait": 60}).json()
    assert done["status"] == "completed", done
    return done


def _webhook(client: httpx.Client, job_id: str, status: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        hook: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()["webhook"]
        return hook if hook["status"] == status else None

    found: dict[str, Any] = _wait_for(reached, f"webhook status {status}")
    return found


def test_the_signed_job_object_arrives_once_when_the_job_completes(
    hooked: httpx.Client, receiver: Receiver
) -> None:
    url = receiver.hook(200)
    job = _submit(hooked, url)
    hook = _webhook(hooked, job["id"], "delivered")
    assert hook == {"url": url, "status": "delivered", "attempts": 1, "last_error": None}
    [got] = _wait_for(lambda: receiver.at(url), "the delivery")
    secret = hooked.get("/v1/webhook-secret").json()["secret"]
    assert secret.startswith("whsec_")
    delivered = verify_webhook(got.body, got.headers["pyexec-signature"], secret)
    assert (delivered.id, delivered.status, delivered.result) == (
        job["id"],
        "completed",
        job["result"],
    )
    body = json.loads(got.body)
    assert body["outputs"] == job["outputs"] and body["webhook"]["url"] == url
    assert got.headers["content-type"] == "application/json"
    assert got.headers["pyexec-delivery"] == job["id"]
    # Once: no second POST comes later.
    time.sleep(2)
    assert len(receiver.at(url)) == 1
    # The job list shows the delivery too.
    listed = hooked.get("/v1/jobs").json()["data"]
    assert next(j for j in listed if j["id"] == job["id"])["webhook"]["status"] == "delivered"


def _deliveries(server: Server) -> dict[str, float]:
    found = metrics_page.scrape(f"{server.url}/metrics")
    return {
        outcome: metrics_page.value(found, "pyexec_webhook_deliveries_total", outcome=outcome)
        for outcome in ("retrying", "delivered")
    }


def test_a_failed_delivery_is_retried_until_it_is_delivered(
    hooked_server: Server, hooked: httpx.Client, receiver: Receiver
) -> None:
    before = _deliveries(hooked_server)
    url = receiver.hook(500, 200)
    job = _submit(hooked, url)
    hook = _webhook(hooked, job["id"], "delivered")
    after = _deliveries(hooked_server)
    assert after["retrying"] - before["retrying"] >= 1
    assert after["delivered"] - before["delivered"] >= 1
    assert hook["attempts"] == 2 and hook["last_error"] is None
    first, second = receiver.at(url)
    secret = hooked.get("/v1/webhook-secret").json()["secret"]
    for got in (first, second):
        assert verify_webhook(got.body, got.headers["pyexec-signature"], secret).id == job["id"]


def test_a_failing_delivery_shows_why_then_gives_up_after_the_window(
    hooked: httpx.Client, receiver: Receiver
) -> None:
    url = receiver.hook(503)
    job = _submit(hooked, url)
    failing = _webhook(hooked, job["id"], "failing")
    assert failing["attempts"] >= 1
    assert failing["last_error"].startswith("HTTP 503"), failing
    gave_up = _webhook(
        hooked,
        job["id"],
        "gave_up",
    )
    assert gave_up["attempts"] >= 3 and gave_up["last_error"].startswith("HTTP 503")
    count = len(receiver.at(url))
    assert count == gave_up["attempts"]
    time.sleep(2)
    assert len(receiver.at(url)) == count  # no attempt after giving up


def test_a_rotated_secret_signs_the_next_deliveries(
    hooked_server: Server, hooked: httpx.Client, receiver: Receiver
) -> None:
    old = hooked.get("/v1/webhook-secret").json()["secret"]
    assert hooked.get("/v1/webhook-secret").json()["secret"] == old  # made once, then kept
    rotated = hooked.post("/v1/webhook-secret/rotate")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and hooked.get("/v1/webhook-secret").json()["secret"] == new
    # The SDK reads and rotates it too.
    key = hooked.headers["Authorization"].removeprefix("Bearer ")
    with PyExec(api_key=key, base_url=hooked_server.url) as sdk:
        assert sdk.webhooks.secret().secret == new
        newest = sdk.webhooks.rotate_secret().secret
    assert newest != new and hooked.get("/v1/webhook-secret").json()["secret"] == newest
    new = newest
    url = receiver.hook(200)
    job = _submit(hooked, url)
    _webhook(hooked, job["id"], "delivered")
    [got] = receiver.at(url)
    assert verify_webhook(got.body, got.headers["pyexec-signature"], new).id == job["id"]
    with pytest.raises(ValueError, match="does not match"):
        verify_webhook(got.body, got.headers["pyexec-signature"], old)


def test_a_job_without_a_webhook_url_has_none(hooked: httpx.Client) -> None:
    created = hooked.post("/v1/jobs", json={"code": "1"})
    assert created.status_code == 201 and created.json()["webhook"] is None


# The default server: http and non-public addresses are refused.
ON_SQLITE = pytest.mark.parametrize("server", ["sqlite"], indirect=True, scope="session")


@ON_SQLITE
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://127.0.0.1/hook", "127.0.0.1, a loopback address"),
        ("https://10.0.0.7/hook", "10.0.0.7, a private address"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local address"),
        ("https://[::1]/hook", "::1, a loopback address"),
        ("https://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1, a loopback address"),
        ("https://localhost/hook", "localhost (127.0.0.1), a loopback address"),
        ("https://2130706433/hook", "(127.0.0.1), a loopback address"),
        ("http://example.com/hook", "must use https://"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_urls_that_point_inside_are_refused_at_submission(
    client: httpx.Client, url: str, problem: str
) -> None:
    before = client.get("/v1/jobs", params={"limit": 100}).json()["data"]
    answer = client.post("/v1/jobs", json={"code": "1", "webhook_url": url})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert problem in error["message"], error
    assert error["details"][0]["field"] == "webhook_url"
    # Nothing was made.
    assert client.get("/v1/jobs", params={"limit": 100}).json()["data"] == before


@ON_SQLITE
def test_the_secret_needs_the_keys_manage_scope(server: Server, client: httpx.Client) -> None:
    limited = client.post("/v1/api-keys", json={"name": "jobs", "scopes": ["jobs:read"]})
    assert limited.status_code == 201, limited.text
    with server.client(limited.json()["key"]) as other:
        assert other.get("/v1/webhook-secret").status_code == 403
        assert other.post("/v1/webhook-secret/rotate").status_code == 403


def test_a_delivery_survives_a_restart(
    tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> None:
    """A delivery still failing when the service stops is made after it starts again."""
    srv = Server(Path(tmp_path_factory.mktemp("restart")), env_overrides=RECEIVER_ENV).start()
    try:
        with srv.client(srv.create_key("restart@example.com")) as c:
            url = receiver.hook(503)
            job = _submit(c, url)
            _webhook(c, job["id"], "failing")
        srv.stop()
        receiver.scripts[httpx.URL(url).path] = [200]
        tried = len(receiver.at(url))
        srv.start()
        with srv.client(srv.create_key("restart-2@example.com")) as other:
            assert other.get(f"/v1/jobs/{job['id']}").status_code == 404  # not theirs
        with srv.client(None) as anonymous:
            assert anonymous.get(f"/v1/jobs/{job['id']}").status_code == 401
        # An attempt cut off by the stop holds its claim until the claim's life (the timeout
        # and a margin) has passed; then the delivery is due again.
        query = "SELECT status FROM webhook_deliveries WHERE job_id = :id"
        _wait_for(
            lambda: srv.rows(query, id=job["id"]) == [{"status": "delivered"}],
            "the delivery after the restart",
            timeout=120,
        )
        assert len(receiver.at(url)[tried:]) == 1
    finally:
        srv.stop()
