"""The scaled-out deployment's metrics: each `pyexec worker` serves its own on
PYEXEC_METRICS_PORT, and both it and `pyexec api` read the queue's depth from Redis at scrape
time (`pyexec_queue_depth`, the series the chart's worker autoscaler reads)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support import metrics as metrics_page
from tests.support.deployment import FAST_RECOVERY, Deployment, deployed, wait_final, wait_status
from tests.support.metrics import Samples, value
from tests.support.servers import WorkerProcess, free_port
from tests.support.services import PostgresCluster, RedisServer

TOKEN = "scrape-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, redis_server: RedisServer
) -> Iterator[Deployment]:
    # One kernel, so one job at a time: the others wait in the queue where the depth sees them.
    env = {**FAST_RECOVERY, "PYEXEC_METRICS_TOKEN": TOKEN, "PYEXEC_KERNEL_POOL_SIZE": "1"}
    with deployed(
        tmp_path_factory.mktemp("scaled-metrics"), postgres.create_database(), redis_server, env
    ) as dep:
        yield dep


@pytest.fixture(scope="module")
def worker(deployment: Deployment) -> tuple[WorkerProcess, str]:
    port = free_port()
    process = deployment.start_worker(PYEXEC_METRICS_PORT=str(port))
    return process, f"http://127.0.0.1:{port}/metrics"


def scrape(url: str) -> Samples:
    return metrics_page.scrape(url, TOKEN)


def wait_until(url: str, check: Callable[[Samples], bool], timeout: float = 60) -> Samples:
    return metrics_page.wait_until(lambda: scrape(url), check, timeout)


def test_the_worker_serves_its_metrics_on_its_port(
    deployment: Deployment, worker: tuple[WorkerProcess, str]
) -> None:
    _, url = worker
    # The pool's kernels are the worker's: the API process has no pool.
    found = wait_until(url, lambda f: value(f, "pyexec_kernel_pool_kernels", state="idle") >= 1)
    assert value(found, "pyexec_kernel_pool_kernels", state="idle") >= 1
    assert value(found, "pyexec_kernel_start_seconds_count") >= 1
    api = scrape(f"{deployment.api.url}/metrics")
    assert not any(name == "pyexec_kernel_pool_kernels" for name, _ in api)
    # Only /metrics, and only with the token.
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url.replace("/metrics", "/"), timeout=30).status_code == 404
    assert httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405


def test_jobs_count_in_the_worker_that_ran_them_and_the_queue_depth_in_both(
    deployment: Deployment, worker: tuple[WorkerProcess, str]
) -> None:
    _, url = worker
    api_url = f"{deployment.api.url}/metrics"
    key = deployment.api.create_key(f"metrics-{uuid.uuid4().hex[:8]}@example.com")
    before, api_before = scrape(url), scrape(api_url)
    with deployment.client(key) as client:
        busy = client.post("/v1/jobs", json={"code": "import time\ntime.sleep(120)"}).json()
        wait_status(client, busy["id"], "running")
        waiting = [
            client.post("/v1/jobs", json={"code": "print('queued')", "priority": 7}).json()
            for _ in range(2)
        ]

        def queued_twice(found: Samples) -> bool:
            return value(found, "pyexec_queue_depth", priority="7") == 2

        # Read from Redis by both processes: the two waiting jobs, not the running one.
        for where in (url, api_url):
            depth = wait_until(where, queued_twice)
            assert value(depth, "pyexec_queue_depth", priority="7") == 2, where
            assert value(depth, "pyexec_queue_depth", priority="5") == 0, where
        assert value(scrape(url), "pyexec_kernel_pool_kernels", state="leased") == 1

        assert client.post(f"/v1/jobs/{busy['id']}/cancel").status_code in (200, 202)
        ended = [wait_final(client, job["id"]) for job in (busy, *waiting)]
    assert [job["status"] for job in ended] == ["cancelled", "completed", "completed"]

    def moved(found: Samples, name: str, **labels: str) -> float:
        return value(found, name, **labels) - value(before, name, **labels)

    after = wait_until(
        url,
        lambda f: (
            moved(f, "pyexec_jobs_finished_total", plan="business") >= 3
            and value(f, "pyexec_queue_depth", priority="7") == 0
        ),
    )
    assert moved(after, "pyexec_jobs_finished_total", status="completed", plan="business") == 2
    assert moved(after, "pyexec_jobs_finished_total", status="cancelled", plan="business") == 1
    assert moved(after, "pyexec_job_queue_wait_seconds_count", priority="7") == 2
    assert moved(after, "pyexec_job_duration_seconds_count") == 3
    assert value(after, "pyexec_queue_depth") == 0
    # Created where the API stored them.
    api_after = scrape(api_url)
    created = value(api_after, "pyexec_jobs_created_total", plan="business") - value(
        api_before, "pyexec_jobs_created_total", plan="business"
    )
    assert created == 3
