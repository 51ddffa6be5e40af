"""GET /v1/jobs/{id}/events, embedded (the scaled deployment: tests/integration/scaled)."""

from __future__ import annotations

import httpx

from tests.support.servers import Server, run_job
from tests.support.sse import check_resume_without_gaps, read_events


def test_stream_of_a_multi_cell_job_resumes_without_gaps(client: httpx.Client) -> None:
    check_resume_without_gaps(client)


def test_failed_job_stream_ends_with_its_error(client: httpx.Client) -> None:
    job = run_job(client, {"code": "1 / 0"})
    events = read_events(client, job["id"])
    assert [e.event for e in events][-3:] == ["cell_finished", "status", "result"]
    assert events[-2].data == {"type": "status", "status": "failed"}
    assert "ZeroDivisionError" in events[-1].data["error_message"]


def test_reconnecting_after_the_end_gets_the_result_again(client: httpx.Client) -> None:
    job = run_job(client, {"code": "print('x')"})
    full = read_events(client, job["id"])
    final_status = next(e for e in reversed(full) if e.event == "status")
    again = read_events(client, job["id"], last_event_id=final_status.id)
    assert [e.event for e in again] == ["result"]
    assert again[0].data["id"] == job["id"] and again[0].data["status"] == "completed"


def test_cancelled_pending_job_stream_ends(client: httpx.Client) -> None:
    # Hold both kernels so that the job stays pending until it is cancelled.
    blockers = [
        client.post("/v1/jobs", json={"code": "import time; time.sleep(30)", "priority": 10})
        for _ in range(2)
    ]
    job = client.post("/v1/jobs", json={"code": "1", "priority": 1}).json()
    try:
        assert client.post(f"/v1/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
        events = read_events(client, job["id"])
        assert [(e.event, e.data.get("status")) for e in events] == [
            ("status", "pending"),
            ("status", "cancelled"),
            ("result", "cancelled"),
        ]
    finally:
        for blocker in blockers:
            client.post(f"/v1/jobs/{blocker.json()['id']}/cancel")


def test_bad_last_event_id_is_400_and_other_accounts_job_is_404(
    server: Server, client: httpx.Client
) -> None:
    job = client.post("/v1/jobs", json={"code": "1"}).json()
    bad = client.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": "not an id"})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["field"] == "Last-Event-ID"
    with server.client(server.create_key("peeker@example.com")) as other:
        resp = other.get(f"/v1/jobs/{job['id']}/events")
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert httpx.get(f"{server.url}/v1/jobs/{job['id']}/events").status_code == 401
