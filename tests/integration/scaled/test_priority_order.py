"""Honest priorities on arq: 30 jobs queued while no worker runs, then one worker, one slot."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tests.support.deployment import FAST_RECOVERY, Deployment, deployed, wait_final
from tests.support.services import PostgresCluster, RedisServer


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, redis_server: RedisServer
) -> Iterator[Deployment]:
    with deployed(
        tmp_path_factory.mktemp("priority"),
        postgres.create_database(),
        redis_server,
        dict(FAST_RECOVERY),
        workers=0,
    ) as dep:
        yield dep


def test_higher_priority_starts_first_and_fifo_within_a_priority(deployment: Deployment) -> None:
    key = deployment.api.create_key("priority@example.com")
    rng = random.Random(30)
    priorities = [rng.randint(1, 10) for _ in range(30)]
    with deployment.client(key) as c:
        ids = []
        for i, priority in enumerate(priorities):
            created = c.post("/v1/jobs", json={"code": f"{i}", "priority": priority})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        assert all(c.get(f"/v1/jobs/{j}").json()["status"] == "pending" for j in ids)

        deployment.start_worker(PYEXEC_KERNEL_POOL_SIZE="1")
        finals = [wait_final(c, job_id) for job_id in ids]

    assert all(j["status"] == "completed" for j in finals), finals
    started = [j["id"] for j in sorted(finals, key=lambda j: j["started_at"])]
    # 10 first; equal priorities in submission order (sorted() is stable).
    expected = [ids[i] for i in sorted(range(30), key=lambda i: -priorities[i])]
    assert started == expected
