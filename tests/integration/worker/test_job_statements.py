"""What one trivial job costs the database, end to end: the embedded service (API, in-process
worker, a real kernel pool) in this process behind a real socket, its SQL statements counted on
its own engine while clients submit and wait for jobs over HTTP."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from pyexec.admin import create_key
from pyexec.api.app import create_app
from pyexec.core.migrate import upgrade
from pyexec.core.runtime import Runtime
from pyexec.core.settings import load_settings
from pyexec.worker.inprocess import embedded_worker
from tests.support.in_process import serving
from tests.support.servers import free_port

START_TIMEOUT_SECONDS = 120.0
JOBS = 3


@dataclass
class Statements:
    """SQL run on the service's engine, from any of its threads."""

    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, _conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        with self.lock:
            self.seen.append(" ".join(sql.split()))

    def take(self) -> list[str]:
        with self.lock:
            taken, self.seen = self.seen, []
        # The webhook sender polls its table on its own clock, whether or not a job ran.
        return [s for s in taken if "webhook_deliveries" not in s]


@dataclass
class Service:
    url: str
    key: str
    statements: Statements


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data_dir = Path(tmp_path_factory.mktemp("statements"))
    port = free_port()
    settings = load_settings(data_dir=data_dir, host="127.0.0.1", port=port, kernel_pool_size=1)
    upgrade(settings.db_url)
    _, key = asyncio.run(create_key(settings, "statements@example.com", "business", "test"))
    runtime = Runtime.embedded(settings)
    statements = Statements()
    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", statements)
    app = create_app(settings, runtime=runtime, components=(embedded_worker,))
    with serving(
        app, port, ready_path="/readyz", start_timeout=START_TIMEOUT_SECONDS, stop_timeout=60
    ) as url:
        yield Service(url, key, statements)


def test_a_trivial_job_reads_nothing_its_request_already_knew(service: Service) -> None:
    headers = {"Authorization": f"Bearer {service.key}"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=90) as client:

        def run(code: str) -> dict[str, Any]:
            created = client.post("/v1/jobs", json={"code": code})
            assert created.status_code == 201, created.text
            job = client.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 60}).json()
            assert job["status"] == "completed", job
            return job

        run("1 + 1")  # a warm pool, and whatever is done once per process, before counting
        service.statements.take()
        per_job = []
        for _ in range(JOBS):
            run(f"print('{uuid.uuid4().hex}')")
            per_job.append(service.statements.take())
    # The owner's plan came with the queue entry: the worker does not read the account.
    assert not [s for job in per_job for s in job if "FROM accounts JOIN jobs" in s]
    # POST: authenticate, insert. GET ?wait: authenticate, read the running job (whose it is).
    # Worker: claim; finish, with the notebook counted in the account's storage.
    assert [len(job) for job in per_job] == [7] * JOBS, per_job
