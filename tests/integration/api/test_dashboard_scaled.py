"""The dashboard on the scaled-out deployment: two `pyexec api` processes and a worker on
PostgreSQL and Redis. Sessions live in the database (any API process knows them), usage reads
Redis's request counters, and a job's page follows the worker's events through Redis."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.dashboard_client import Visitor, create_person, live_events
from tests.support.deployment import FAST_RECOVERY, Deployment, deployed
from tests.support.services import PostgresCluster, RedisServer


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster, redis_server: RedisServer
) -> Iterator[Deployment]:
    with deployed(
        tmp_path_factory.mktemp("scaled-dashboard"),
        postgres.create_database(),
        redis_server,
        dict(FAST_RECOVERY),
        apis=2,
        workers=1,
    ) as dep:
        yield dep


def test_sessions_usage_and_live_jobs_across_processes(deployment: Deployment) -> None:
    first, second = deployment.apis
    email = create_person(first, plan="free")
    on_first = Visitor.of(first).signed_in(email)
    # The same browser, sent to the other API process (a load balancer's doing): still in.
    on_second = Visitor.of(second, on_first.ip)
    on_second.set_session_cookie(on_first.session_cookie or "")
    assert on_second.get("/jobs").status_code == 200

    made = on_first.client.post(
        "/keys",
        data={"csrf_token": on_first.token("/keys"), "name": "script", "scopes": "jobs:read"},
    )
    key = re.search(r'value="(pyex_[A-Za-z0-9_-]+)"', made.text).group(1)  # type: ignore[union-attr]
    with deployment.client(key, api=1) as api:
        for _ in range(3):
            assert api.get("/v1/jobs").status_code == 200
    usage = on_second.get("/usage").text
    assert "3 <small>of 100</small>" in usage and "97 left" in usage

    submitted = on_second.post_form(
        "/jobs/new", {"code": "print('<i>from the worker</i>')", "title": "Across"}
    )
    assert submitted.status_code == 303
    job_id = submitted.headers["location"].removeprefix("/jobs/")
    events = live_events(on_first, job_id)
    assert events[-1].event == "done" and "status-completed" in events[-1].data
    assert "&lt;i&gt;from the worker&lt;/i&gt;" in "\n".join(e.data for e in events)
    for v in (on_first, on_second):
        v.close()
