"""The SDK against the scaled-out deployment (`pyexec api` + `pyexec worker` on PostgreSQL and
Redis): event ids are Redis stream ids there, and a dropped stream still resumes exactly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyexec_client import OutputEvent, PyExec, ResultEvent, StatusEvent
from tests.integration.client.fault_proxy import CutStream, FaultProxy
from tests.support.deployment import FAST_RECOVERY, Deployment, deployed
from tests.support.services import PostgresCluster, RedisServer


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, redis_server: RedisServer
) -> Iterator[Deployment]:
    with deployed(
        tmp_path_factory.mktemp("client-scaled"),
        postgres.create_database(),
        redis_server,
        dict(FAST_RECOVERY),
        workers=1,
    ) as dep:
        yield dep


@pytest.fixture
def proxy(deployment: Deployment) -> Iterator[FaultProxy]:
    proxy = FaultProxy(deployment.api.url).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def test_submit_stream_resume_and_wait_when_scaled_out(
    deployment: Deployment, proxy: FaultProxy
) -> None:
    key = deployment.api.create_key("client-scaled@example.com")
    code = "print('one', flush=True)\nimport time; time.sleep(2)\nprint('two')\n# %%\n6 * 7"
    with PyExec(api_key=key, base_url=proxy.url) as client:
        job = client.jobs.create(code=code)
        proxy.once("GET", f"/v1/jobs/{job.id}/events", CutStream(events=4))
        events = list(client.jobs.stream(job.id))
        assert client.jobs.wait(job.id, timeout=120).result == "42"
    with PyExec(api_key=key, base_url=deployment.api.url) as direct:
        logged = list(direct.jobs.stream(job.id))

    first, again = proxy.requests("GET", f"/v1/jobs/{job.id}/events")
    assert "last-event-id" not in first.headers
    assert "-" in events[0].id  # type: ignore[operator]  # a Redis stream id, not 1, 2, ...
    assert again.headers["last-event-id"] == events[3].id
    assert [e.id for e in events] == [e.id for e in logged]  # no gap, no repeat
    assert [e.status for e in events if isinstance(e, StatusEvent)] == [
        "pending",
        "running",
        "completed",
    ]
    assert [e.text for e in events if isinstance(e, OutputEvent)] == ["one\n", "two\n", "42"]
    assert isinstance(events[-1], ResultEvent) and events[-1].job.status == "completed"
