"""The scaled-out deployment stopped by SIGTERM while a job runs: the drain.

A worker stops taking jobs at once and gives its running job `PYEXEC_SHUTDOWN_GRACE_SECONDS`
to finish, or hands it back to the queue (pending, no attempt used) for another worker; it
exits 0 and leaves no kernel, zygote or work dir. `pyexec api` says it is draining (/readyz
503), goes on answering reads, `?wait=` and new jobs (enqueued for the workers), and exits 0.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.deployment import FAST_RECOVERY, Deployment, deployed, wait_final
from tests.support.drain import (
    Gate,
    descendants,
    exit_code,
    kernel_work_dirs,
    left_behind,
    notebook_code_cells,
    sigterm,
    wait_draining,
    wait_logged,
)
from tests.support.services import PostgresCluster, RedisServer
from tests.support.sse import SseEvent, parse_sse


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, redis_server: RedisServer
) -> Iterator[Deployment]:
    with deployed(
        tmp_path_factory.mktemp("drain"),
        postgres.create_database(),
        redis_server,
        {**FAST_RECOVERY, "PYEXEC_KERNEL_POOL_SIZE": "1"},
        workers=0,
    ) as dep:
        yield dep


@pytest.fixture(scope="module")
def key(deployment: Deployment) -> str:
    return deployment.api.create_key("drain@example.com")


@pytest.fixture
def dep(deployment: Deployment) -> Iterator[Deployment]:
    """The deployment with no worker; the test's workers are stopped after it."""
    yield deployment
    for worker in deployment.live_workers():
        worker.kill()


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path / "gate")


def job_row(dep: Deployment, job_id: str) -> dict:
    [row] = dep.api.rows("SELECT status, attempts FROM jobs WHERE id = :id", id=job_id)
    return row


def test_worker_lets_its_job_finish_within_the_grace_and_exits_0(
    dep: Deployment, key: str, gate: Gate
) -> None:
    worker = dep.start_worker(PYEXEC_SHUTDOWN_GRACE_SECONDS="120", PYEXEC_LOG_LEVEL="info")
    assert worker.proc is not None
    with dep.client(key) as c:
        job = c.post("/v1/jobs", json={"code": gate.code()}).json()
        [kernel] = gate.wait_runs(1)
        tree = descendants(worker.pid)
        assert kernel in tree
        sigterm(worker.proc)
        wait_logged(
            lambda: worker.log_path.read_text(errors="replace"),
            "draining: waiting for 1 running job(s)",
            worker.proc,
        )
        assert gate.poke_answered(kernel, worker.proc), worker.log()  # still running
        # Submitted during the drain: not taken by the draining worker.
        tag = f"after-{uuid.uuid4().hex[:8]}"
        later = c.post("/v1/jobs", json={"code": dep.marked_code(tag, "'later'")}).json()
        gate.open()
        final = wait_final(c, job["id"])
        assert final["status"] == "completed" and final["result"] == "ran", final
        assert exit_code(worker.proc) == 0, worker.log()
        assert job_row(dep, job["id"]) == {"status": "completed", "attempts": 1}
        assert left_behind(tree) == []
        assert kernel_work_dirs(dep.data_dir) == []
        assert job_row(dep, later["id"])["status"] == "pending"

        other = dep.start_worker()
        assert wait_final(c, later["id"])["status"] == "completed"
    assert [pid for t, pid in dep.runs() if t == tag] == [other.pid]
    assert gate.runs() == [kernel]


def test_worker_hands_back_a_job_past_the_grace_to_another_worker(
    dep: Deployment, key: str, gate: Gate
) -> None:
    worker = dep.start_worker(PYEXEC_SHUTDOWN_GRACE_SECONDS="15", PYEXEC_LOG_LEVEL="info")
    assert worker.proc is not None
    with dep.client(key) as c:
        job = c.post("/v1/jobs", json={"code": gate.code()}).json()
        [kernel] = gate.wait_runs(1)
        tree = descendants(worker.pid)
        sigterm(worker.proc)
        wait_logged(
            lambda: worker.log_path.read_text(errors="replace"),
            "draining: waiting for 1 running job(s)",
            worker.proc,
        )
        assert gate.poke_answered(kernel, worker.proc), worker.log()  # given its grace
        assert exit_code(worker.proc) == 0, worker.log()
        assert job_row(dep, job["id"]) == {"status": "pending", "attempts": 0}
        assert left_behind(tree) == []
        assert kernel_work_dirs(dep.data_dir) == []

        gate.open()
        other = dep.start_worker()
        final = wait_final(c, job["id"])
        notebook = c.get(f"/v1/jobs/{job['id']}/notebook").json()
    assert final["status"] == "completed" and final["result"] == "ran", final
    assert job_row(dep, job["id"]) == {"status": "completed", "attempts": 1}
    runs = gate.runs()
    assert len(runs) == 2 and kernel in runs
    [second] = set(runs) - {kernel}
    assert second in descendants(other.pid) or second not in tree
    [cell] = notebook_code_cells(notebook)
    assert "".join(cell["source"]).strip() == gate.code().strip()
    assert ["".join(o.get("text", "")) for o in cell["outputs"]] == ["ran\n"]


def test_api_drains_answering_reads_waits_and_new_jobs_then_exits_0(
    dep: Deployment, key: str, gate: Gate
) -> None:
    dep.start_worker(PYEXEC_SHUTDOWN_GRACE_SECONDS="120")
    api = dep.start_api(PYEXEC_SHUTDOWN_GRACE_SECONDS="120")
    assert api.proc is not None
    streaming = threading.Event()

    def stream(client: httpx.Client, job_id: str) -> list[SseEvent]:
        events = []
        with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            for event in parse_sse(response.iter_lines()):
                events.append(event)
                streaming.set()
        return events

    with (
        api.client(key) as c,
        api.client(key) as streamer,
        api.client(key) as waiter,
        ThreadPoolExecutor(2) as pool,
    ):
        job = c.post("/v1/jobs", json={"code": gate.code()}).json()
        gate.wait_runs(1)
        # Held open by the API when the signal comes: the event stream (its replayed events
        # show it is), and a `?wait=`.
        events = pool.submit(stream, streamer, job["id"])
        assert streaming.wait(60)
        waited = pool.submit(waiter.get, f"/v1/jobs/{job['id']}", params={"wait": 60})
        sigterm(api.proc)
        body = wait_draining(api.url, api.proc)
        assert body["status"] == "not_ready"
        assert c.get(f"/v1/jobs/{job['id']}").json()["status"] == "running"
        later = c.post("/v1/jobs", json={"code": "'later'"})  # enqueued: the workers run it
        assert later.status_code == 201, later.text
        gate.open()
        final = waited.result(timeout=120)
        streamed = events.result(timeout=120)
    assert final.status_code == 200 and final.json()["status"] == "completed", final.text
    assert streamed[-1].event == "result" and streamed[-1].data["status"] == "completed"
    assert exit_code(api.proc) == 0, api.log()
    with dep.client(key) as c:
        assert wait_final(c, later.json()["id"])["status"] == "completed"
