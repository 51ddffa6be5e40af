"""Priority ordering and crash recovery, each on a server of its own (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import Server


@pytest.fixture
def single_kernel_server(tmp_path: Path, database_url: str | None) -> Iterator[Server]:
    srv = Server(
        tmp_path / "data", {"PYEXEC_KERNEL_POOL_SIZE": "1"}, database_url=database_url
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_higher_priority_starts_first_fifo_within(single_kernel_server: Server) -> None:
    srv = single_kernel_server
    with srv.client(srv.create_key("prio@example.com")) as c:
        # Hold the only kernel so that every later job waits in the queue together.
        blocker = c.post("/v1/jobs", json={"code": "import time; time.sleep(3)"}).json()
        for _ in range(100):
            if c.get(f"/v1/jobs/{blocker['id']}").json()["status"] == "running":
                break
            time.sleep(0.05)
        priorities = [1, 5, 10, 5, 1, 10, 7]
        jobs = [
            (p, c.post("/v1/jobs", json={"code": f"{i}", "priority": p}).json()["id"])
            for i, p in enumerate(priorities)
        ]
        finished = [c.get(f"/v1/jobs/{j}", params={"wait": 60}).json() for _, j in jobs]
        assert all(j["status"] == "completed" for j in finished), finished
        by_start = sorted(zip(jobs, finished, strict=True), key=lambda x: x[1]["started_at"])
        order = [job_id for (_, job_id), _ in by_start]
        expected = [j for _, j in sorted(jobs, key=lambda pj: -pj[0])]  # stable: FIFO within
        assert order == expected


def test_kill_9_while_running_loses_nothing(tmp_path: Path, database_url: str | None) -> None:
    data = tmp_path / "data"
    srv = Server(data, {"PYEXEC_KERNEL_POOL_SIZE": "1"}, database_url=database_url).start()
    try:
        key = srv.create_key("crash@example.com")
        with srv.client(key) as c:
            running = c.post(
                "/v1/jobs", json={"code": "import time; time.sleep(2); print('ran')"}
            ).json()
            queued = c.post("/v1/jobs", json={"code": "print('queued')"}).json()
            for _ in range(100):
                if c.get(f"/v1/jobs/{running['id']}").json()["status"] == "running":
                    break
                time.sleep(0.05)
            assert c.get(f"/v1/jobs/{queued['id']}").json()["status"] == "pending"
        srv.kill()
    finally:
        srv.stop()

    again = Server(data, {"PYEXEC_KERNEL_POOL_SIZE": "1"}, database_url=database_url).start()
    try:
        with again.client(key) as c:
            first = c.get(f"/v1/jobs/{running['id']}", params={"wait": 60}).json()
            second = c.get(f"/v1/jobs/{queued['id']}", params={"wait": 60}).json()
        assert first["status"] == "completed" and first["result"] == "ran"
        assert second["status"] == "completed" and second["result"] == "queued"
    finally:
        again.stop()


def test_job_interrupted_too_often_fails_with_reason(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"
    env = {"PYEXEC_KERNEL_POOL_SIZE": "1", "PYEXEC_JOB_MAX_ATTEMPTS": "1"}
    srv = Server(data, env, database_url=database_url).start()
    try:
        key = srv.create_key("crash2@example.com")
        with srv.client(key) as c:
            job = c.post("/v1/jobs", json={"code": "import time; time.sleep(60)"}).json()
            for _ in range(100):
                if c.get(f"/v1/jobs/{job['id']}").json()["status"] == "running":
                    break
                time.sleep(0.05)
        srv.kill()
    finally:
        srv.stop()
    again = Server(data, env, database_url=database_url).start()
    try:
        with again.client(key) as c:
            final = c.get(f"/v1/jobs/{job['id']}").json()
        assert final["status"] == "failed"
        assert final["error_message"].startswith("interrupted: the service restarted")
    finally:
        again.stop()
