"""Webhooks in the scaled-out deployment: `pyexec api` and two `pyexec worker`s on PostgreSQL
and Redis. The workers' senders compete for the same deliveries: each job's object arrives
once, signed, and a failed attempt is retried by whichever worker claims it next."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from pyexec_client import verify_webhook
from tests.support.deployment import FAST_RECOVERY, Deployment, deployed, wait_final
from tests.support.services import PostgresCluster, RedisServer
from tests.support.webhook_receiver import RECEIVER_ENV, Receiver, receiving

JOBS = 12
WAIT_SECONDS = 90.0


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, redis_server: RedisServer
) -> Iterator[Deployment]:
    with deployed(
        tmp_path_factory.mktemp("scaled-hooks"),
        postgres.create_database(),
        redis_server,
        {**FAST_RECOVERY, **RECEIVER_ENV},
        workers=2,
    ) as dep:
        yield dep


def test_each_job_is_delivered_once_by_one_of_two_workers(
    deployment: Deployment, receiver: Receiver
) -> None:
    key = deployment.api.create_key("scaled-hooks@example.com")
    # Every third receiver fails once first: its retry may come from either worker.
    urls = [receiver.hook(500, 200) if i % 3 == 0 else receiver.hook(200) for i in range(JOBS)]

    def run(url: str) -> dict:
        with deployment.client(key) as c:
            created = c.post("/v1/jobs", json={"code": "6 * 7", "webhook_url": url})
            assert created.status_code == 201, created.text
            final = wait_final(c, created.json()["id"])
            assert final["status"] == "completed", final
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline:
                job = c.get(f"/v1/jobs/{final['id']}").json()
                if job["webhook"]["status"] == "delivered":
                    return job
                time.sleep(0.1)
            raise AssertionError(f"not delivered: {job['webhook']}")

    with ThreadPoolExecutor(6) as pool:
        jobs = list(pool.map(run, urls))
    with deployment.client(key) as c:
        secret = c.get("/v1/webhook-secret").json()["secret"]
    time.sleep(2)  # a duplicate, if any, would come within the claim's life
    for i, (url, job) in enumerate(zip(urls, jobs, strict=True)):
        got = receiver.at(url)
        expected = 2 if i % 3 == 0 else 1
        assert len(got) == expected == job["webhook"]["attempts"], (url, job["webhook"])
        assert got[-1].headers["pyexec-delivery"] == job["id"]
        assert (
            verify_webhook(got[-1].body, got[-1].headers["pyexec-signature"], secret).id
            == (job["id"])
        )
