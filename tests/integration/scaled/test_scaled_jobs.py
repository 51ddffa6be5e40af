"""One `pyexec api` and two `pyexec worker`s on real PostgreSQL and Redis: volume, exactly-once,
cancellation and live events across processes."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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
from tests.support.sse import check_resume_without_gaps
from tests.support.uploading import DATA, upload_ok


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, redis_server: RedisServer
) -> Iterator[Deployment]:
    with deployed(
        tmp_path_factory.mktemp("scaled"),
        postgres.create_database(),
        redis_server,
        dict(FAST_RECOVERY),
        workers=2,
    ) as dep:
        yield dep


@pytest.fixture(scope="module")
def key(deployment: Deployment) -> str:
    return deployment.api.create_key("scaled@example.com")


def test_api_process_is_ready_without_a_kernel_pool(deployment: Deployment) -> None:
    ready = httpx.get(f"{deployment.api.url}/readyz").json()
    assert ready == {"status": "ready", "checks": {"database": True, "queue": True}}


def test_200_jobs_from_4_accounts_complete_exactly_once(deployment: Deployment) -> None:
    # Business plan: its running limit (20) is above the deployment's 4 slots, so the plans
    # hold none back and this measures the queue and the workers (test_account_limits.py
    # covers the limit).
    keys = [deployment.api.create_key(f"volume-{i}@example.com") for i in range(4)]
    rng = random.Random(200)
    tags = [f"v{i}-{uuid.uuid4().hex[:8]}" for i in range(200)]
    priorities = [rng.randint(1, 10) for _ in tags]

    def submit(i: int) -> tuple[str, str]:
        with deployment.client(keys[i % 4]) as c:
            body = {"code": deployment.marked_code(tags[i], "6 * 7"), "priority": priorities[i]}
            created = c.post("/v1/jobs", json=body)
            assert created.status_code == 201, created.text
            return keys[i % 4], created.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        submitted = list(pool.map(submit, range(200)))

        def finish(item: tuple[str, str]) -> dict:
            with deployment.client(item[0]) as c:
                return wait_final(c, item[1], timeout=600)

        finals = list(pool.map(finish, submitted))

    assert [j["status"] for j in finals] == ["completed"] * 200, [
        (j["id"], j["status"], j["error_message"]) for j in finals if j["status"] != "completed"
    ]
    assert {j["result"] for j in finals} == {"42"}
    counts = deployment.run_counts()
    assert [counts[t] for t in tags] == [1] * 200  # each ran in exactly one kernel, once
    pids = {pid for tag, pid in deployment.runs() if tag in set(tags)}
    assert pids == {w.pid for w in deployment.workers}  # both workers took a share
    # Each account sees its own 50 jobs and no other's.
    with deployment.client(keys[0]) as c:
        listed = c.get("/v1/jobs", params={"limit": 100}).json()["data"]
    assert len(listed) == 50


def test_cancel_from_the_api_interrupts_the_kernel_in_the_worker(
    deployment: Deployment, key: str
) -> None:
    tag = f"cancel-{uuid.uuid4().hex[:8]}"
    code = deployment.marked_code(tag, "import time\ntime.sleep(60)\nprint('not reached')")
    with deployment.client(key) as c:
        job = c.post("/v1/jobs", json={"code": code}).json()
        deployment.wait_for_runs(tag, 1)
        # The cancel answers with the final job once the worker has stopped the cell.
        cancelled = c.post(f"/v1/jobs/{job['id']}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled", cancelled.json()
        assert cancelled.json()["error_message"] == "cancelled while running"
        assert c.get(f"/v1/jobs/{job['id']}/notebook").status_code == 200
        again = c.post(f"/v1/jobs/{job['id']}/cancel")
        assert again.status_code == 409
    assert deployment.run_counts()[tag] == 1


def test_a_second_api_process_follows_and_cancels_the_same_job(
    deployment: Deployment, key: str
) -> None:
    if len(deployment.apis) < 2:
        deployment.start_api()
    tag = f"two-apis-{uuid.uuid4().hex[:8]}"
    code = deployment.marked_code(tag, "import time\ntime.sleep(60)")
    with deployment.client(key, api=0) as first, deployment.client(key, api=1) as second:
        job = first.post("/v1/jobs", json={"code": code}).json()
        wait_status(second, job["id"], "running")
        deployment.wait_for_runs(tag, 1)
        assert second.post(f"/v1/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
        assert first.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"


def test_prompt_over_an_uploaded_file_runs_on_a_worker(deployment: Deployment, key: str) -> None:
    # The file goes to the API's data dir, the worker stages it from the same (shared) one,
    # and the worker's own model (the offline planner here) writes the cells.
    with deployment.client(key) as c:
        sales = upload_ok(c, (DATA / "sales.csv").read_bytes(), "sales.csv")
        body = {"prompt": "Analyze the CSV file and return top 10 rows by revenue"}
        created = c.post("/v1/jobs", json={**body, "file_ids": [sales["id"]]})
        assert created.status_code == 201, created.text
        job = wait_final(c, created.json()["id"])
    assert job["status"] == "completed", job
    table = next(o for o in job["outputs"] if o["type"] == "table")
    assert len(table["rows"]) == 10 and "revenue" in table["columns"]


def test_live_events_resume_without_gaps_across_processes(deployment: Deployment, key: str) -> None:
    with deployment.client(key) as c:
        check_resume_without_gaps(c)
