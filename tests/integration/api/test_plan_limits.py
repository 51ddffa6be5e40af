"""What plans allow, over HTTP: the job timeout cap, and the running-jobs limit (jobs over it
wait in the queue, without holding up other accounts' jobs)."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx

from tests.support.servers import Server


def test_timeout_over_the_plan_cap_is_403_naming_it(server: Server, client: httpx.Client) -> None:
    with server.client(server.create_key(f"cap-{uuid.uuid4().hex[:8]}@example.com", "free")) as c:
        resp = c.post("/v1/jobs", json={"code": "1", "timeout_seconds": 61})
        assert resp.status_code == 403
        error = resp.json()["error"]
        assert error["code"] == "forbidden" and error["status"] == 403
        assert "free plan's cap of 60 s" in error["message"]
        ok = c.post("/v1/jobs", json={"code": "1", "timeout_seconds": 60})
        assert ok.status_code == 201 and ok.json()["timeout_seconds"] == 60
        # Without a timeout, the server's default budget is cut to the plan's cap.
        assert c.post("/v1/jobs", json={"code": "1"}).json()["timeout_seconds"] == 60
    business = client.post("/v1/jobs", json={"code": "1", "timeout_seconds": 3601})
    assert business.status_code == 403 and "3600 s" in business.json()["error"]["message"]
    assert client.post("/v1/jobs", json={"code": "1"}).json()["timeout_seconds"] == 300


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_jobs_over_the_running_limit_wait_without_blocking_others(
    server: Server, client: httpx.Client
) -> None:
    # The server has two kernels; a free account may run one job at a time.
    with server.client(server.create_key(f"one-{uuid.uuid4().hex[:8]}@example.com", "free")) as c:
        long = c.post("/v1/jobs", json={"code": "import time; time.sleep(4)"})
        queued = c.post("/v1/jobs", json={"code": "print('my turn')"})
        assert long.status_code == 201 and queued.status_code == 201  # waits, not rejected
        other = client.post("/v1/jobs", json={"code": "print('not blocked')"}).json()
        long_done = c.get(f"/v1/jobs/{long.json()['id']}", params={"wait": 60}).json()
        queued_done = c.get(f"/v1/jobs/{queued.json()['id']}", params={"wait": 60}).json()
    other_done = client.get(f"/v1/jobs/{other['id']}", params={"wait": 60}).json()
    assert [j["status"] for j in (long_done, queued_done, other_done)] == ["completed"] * 3
    assert queued_done["result"] == "my turn"
    # The free account's second job started only once its first had ended ...
    assert at(queued_done["started_at"]) >= at(long_done["completed_at"])
    # ... while another account's job, submitted after it, ran in the meantime.
    assert at(other_done["completed_at"]) < at(long_done["completed_at"])
