"""Nothing lost in the scaled-out deployment: a worker SIGKILLed mid-job, Redis restarted
empty mid-run, and jobs submitted while Redis is down."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.deployment import (
    FAST_RECOVERY,
    Deployment,
    deployed,
    wait_final,
    wait_status,
)
from tests.support.services import PostgresCluster, RedisServer

SLOTS_PER_WORKER = "1"


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, redis_server: RedisServer
) -> Iterator[Deployment]:
    with deployed(
        tmp_path_factory.mktemp("recovery"),
        postgres.create_database(),
        redis_server,
        {
            **FAST_RECOVERY,
            "PYEXEC_JOB_MAX_ATTEMPTS": "2",
            "PYEXEC_KERNEL_POOL_SIZE": SLOTS_PER_WORKER,
        },
        workers=0,
    ) as dep:
        yield dep


@pytest.fixture(scope="module")
def key(deployment: Deployment) -> str:
    return deployment.api.create_key("recovery@example.com")


@pytest.fixture
def two_workers(deployment: Deployment) -> Deployment:
    while len(deployment.live_workers()) < 2:
        deployment.start_worker()
    return deployment


def test_job_of_a_killed_worker_runs_again_on_another(two_workers: Deployment, key: str) -> None:
    dep = two_workers
    tag = f"kill-{uuid.uuid4().hex[:8]}"
    # The cell outlives the test's kill of the worker running it.
    code = dep.marked_code(tag, "import time\ntime.sleep(5)\nprint('ran')")
    with dep.client(key) as c:
        job = c.post("/v1/jobs", json={"code": code}).json()
        [first_pid] = dep.wait_for_runs(tag, 1)
        dep.worker_with_pid(first_pid).kill()
        final = wait_final(c, job["id"])
    assert final["status"] == "completed" and final["result"] == "ran", final
    pids = dep.wait_for_runs(tag, 2)
    assert len(pids) == 2 and pids[0] == first_pid and pids[1] != first_pid
    assert pids[1] in {w.pid for w in dep.live_workers()}


def test_worker_stopped_cleanly_hands_its_job_to_another(two_workers: Deployment, key: str) -> None:
    dep = two_workers
    tag = f"sigterm-{uuid.uuid4().hex[:8]}"
    code = dep.marked_code(tag, "import time\ntime.sleep(5)\nprint('ran')")
    with dep.client(key) as c:
        job = c.post("/v1/jobs", json={"code": code}).json()
        [first_pid] = dep.wait_for_runs(tag, 1)
        dep.worker_with_pid(first_pid).stop()  # SIGTERM: the job goes back to the queue
        final = wait_final(c, job["id"])
    assert final["status"] == "completed" and final["result"] == "ran", final
    pids = dep.wait_for_runs(tag, 2)
    assert pids[1] != first_pid and pids[1] in {w.pid for w in dep.live_workers()}


def test_job_that_loses_its_worker_too_often_fails_with_the_reason(
    two_workers: Deployment, key: str
) -> None:
    dep = two_workers
    tag = f"twice-{uuid.uuid4().hex[:8]}"
    with dep.client(key) as c:
        code = dep.marked_code(tag, "import time\ntime.sleep(60)")
        job = c.post("/v1/jobs", json={"code": code}).json()
        for attempt in (1, 2):  # PYEXEC_JOB_MAX_ATTEMPTS=2
            pids = dep.wait_for_runs(tag, attempt)
            dep.worker_with_pid(pids[-1]).kill()
        dep.start_worker()  # the next delivery finds no attempt left
        final = wait_final(c, job["id"])
    assert final["status"] == "failed", final
    assert final["error_message"] == "interrupted: the worker running it stopped (2 attempts)"
    assert dep.run_counts()[tag] == 2


def test_redis_restarted_empty_mid_run_loses_and_repeats_nothing(
    two_workers: Deployment, key: str
) -> None:
    dep = two_workers
    tags = [f"restart-{i}-{uuid.uuid4().hex[:6]}" for i in range(8)]
    with dep.client(key) as c:
        ids = [
            c.post(
                "/v1/jobs", json={"code": dep.marked_code(t, "import time\ntime.sleep(1)\n'ok'")}
            ).json()["id"]
            for t in tags
        ]
        wait_status(c, ids[0], "running")
        dep.redis.restart()  # no persistence: the queue, leases and event logs are gone
        finals = [wait_final(c, job_id) for job_id in ids]
    assert [j["status"] for j in finals] == ["completed"] * len(ids), finals
    counts = dep.run_counts()
    assert [counts[t] for t in tags] == [1] * len(tags)


def test_jobs_submitted_while_redis_is_down_run_when_it_returns(
    two_workers: Deployment, key: str
) -> None:
    dep = two_workers
    tags = [f"down-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    dep.redis.stop()
    try:
        with dep.client(key) as c:
            created = [c.post("/v1/jobs", json={"code": dep.marked_code(t, "'ok'")}) for t in tags]
            assert [r.status_code for r in created] == [201] * 3
            assert [r.json()["status"] for r in created] == ["pending"] * 3
            ready = httpx.get(f"{dep.api.url}/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["queue"] is False
            time.sleep(1)  # they stay pending: nothing can run them yet
            assert {c.get(f"/v1/jobs/{r.json()['id']}").json()["status"] for r in created} == {
                "pending"
            }
    finally:
        dep.redis.start()
    with dep.client(key) as c:
        finals = [wait_final(c, r.json()["id"]) for r in created]
    assert [j["status"] for j in finals] == ["completed"] * 3, finals
    assert [dep.run_counts()[t] for t in tags] == [1] * 3
