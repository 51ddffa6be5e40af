"""Requests held open (`?wait=`, event streams) are capped per account: one account holding
many cannot starve the others."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Server, run_job

CAP = 3
SLOW = "import time\ntime.sleep(60)"


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        Path(tmp_path_factory.mktemp("holds")),
        {
            "PYEXEC_MAX_OPEN_WAITS_PER_ACCOUNT": str(CAP),
            "PYEXEC_MAX_OPEN_STREAMS_PER_ACCOUNT": str(CAP),
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def streams(client: httpx.Client, job_id: str, n: int) -> Iterator[list[httpx.Response]]:
    with contextlib.ExitStack() as stack:
        opened = [
            stack.enter_context(client.stream("GET", f"/v1/jobs/{job_id}/events"))
            for _ in range(n)
        ]
        for response in opened:
            assert response.status_code == 200
        yield opened


def test_an_accounts_event_streams_are_capped(capped: Server) -> None:
    with capped.client(capped.create_key("streamer@example.com")) as c:
        job = c.post("/v1/jobs", json={"code": SLOW}).json()
        try:
            with streams(c, job["id"], CAP):
                refused = c.get(f"/v1/jobs/{job['id']}/events")
                assert refused.status_code == 429
                assert refused.headers["retry-after"] == "5"
                assert refused.json()["error"]["code"] == "rate_limited"
                assert "3 open event streams" in refused.json()["error"]["message"]
                # Another account is not affected, and its jobs run.
                with capped.client(capped.create_key("other@example.com")) as other:
                    mine = other.post("/v1/jobs", json={"code": SLOW}).json()
                    with streams(other, mine["id"], 1):
                        pass
                    other.post(f"/v1/jobs/{mine['id']}/cancel")
                    done = run_job(other, {"code": "print(1)", "priority": 10})
                    assert done["status"] == "completed", done
            # Closed streams give their places back.
            with streams(c, job["id"], CAP):
                pass
        finally:
            c.post(f"/v1/jobs/{job['id']}/cancel")


def test_an_accounts_waits_are_capped(capped: Server) -> None:
    with capped.client(capped.create_key("waiter@example.com")) as c:
        job = c.post("/v1/jobs", json={"code": SLOW}).json()
        answers: list[int] = []

        def hold() -> None:
            # A probe below holds a place for 0.1 s itself: a holder that meets it tries again.
            with capped.client(c.headers["authorization"].split()[1]) as own:
                for _ in range(200):
                    status = own.get(f"/v1/jobs/{job['id']}", params={"wait": 20}).status_code
                    if status != 429:
                        break
                    time.sleep(0.05)
                answers.append(status)

        holders = [threading.Thread(target=hold) for _ in range(CAP)]
        try:
            for thread in holders:
                thread.start()
            refused = None
            for _ in range(100):  # until all CAP holders hold (probes run one at a time)
                refused = c.get(f"/v1/jobs/{job['id']}", params={"wait": 0.1})
                if refused.status_code == 429:
                    break
            assert refused is not None and refused.status_code == 429, refused
            assert "3 open waiting requests" in refused.json()["error"]["message"]
            # A plain read is no hold.
            assert c.get(f"/v1/jobs/{job['id']}").status_code == 200
        finally:
            c.post(f"/v1/jobs/{job['id']}/cancel")  # ends the waits: the job is final
            for thread in holders:
                thread.join(timeout=30)
        assert answers == [200] * CAP
