"""A real uvicorn server, in this process, whose clock the test moves.

Crossing midnight UTC (the daily quota) or 24 h (idempotency keys) without sleeping needs the
server's time in the test's hands: the app gets a `ManualClock` through its `Runtime`, the one
seam PyExec has for time, instead of a test-only setting in the product. It serves the API only
(no worker, no kernels): jobs it accepts stay pending.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from pyexec.api.app import create_app
from pyexec.core.clock import ManualClock
from pyexec.core.migrate import upgrade
from pyexec.core.runtime import Runtime
from pyexec.core.settings import Settings, load_settings
from tests.support.in_process import serving
from tests.support.servers import free_port

START_TIMEOUT_SECONDS = 30.0


@dataclass
class ClockedServer:
    url: str
    clock: ManualClock
    settings: Settings
    runtime: Runtime

    def create_key(self, email: str, plan: str = "free") -> str:
        import asyncio

        from pyexec.admin import create_key

        _, plaintext = asyncio.run(create_key(self.settings, email, plan, "test"))
        return plaintext

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )


@contextmanager
def clocked_server(
    data_dir: Path, start: datetime, database_url: str | None = None
) -> Iterator[ClockedServer]:
    """`database_url`: None for SQLite in `data_dir`, else that (PostgreSQL) database."""
    port = free_port()
    settings = load_settings(
        data_dir=data_dir, host="127.0.0.1", port=port, database_url=database_url
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    clock = ManualClock(start)
    runtime = Runtime.embedded(settings)
    runtime.clock = clock
    app = create_app(settings, runtime=runtime)
    with serving(app, port, start_timeout=START_TIMEOUT_SECONDS) as url:
        yield ClockedServer(url=url, clock=clock, settings=settings, runtime=runtime)
