"""What authenticating and charging a /v1 request costs the database: one connection (one
transaction) whatever the plan, with the key lookup and the day's count in it, on a real
in-process server and its real database (SQLite, then PostgreSQL)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.support.clocked_server import ClockedServer, clocked_server

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REQUESTS = 5


@pytest.fixture
def clocked(tmp_path: Path, database_url: str | None) -> Iterator[ClockedServer]:
    with clocked_server(tmp_path, START, database_url) as srv:
        yield srv


@pytest.fixture
def database_use(clocked: ClockedServer) -> Iterator[Counter[str]]:
    """Connections checked out of the pool and statements run, by the table they start at."""
    engine = clocked.runtime.db.engine.sync_engine
    used: Counter[str] = Counter()

    def checkout(*_: Any) -> None:
        used["connections"] += 1

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        used[" ".join(sql.split()[:3])] += 1

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield used
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "before_cursor_execute", statement)


@pytest.mark.parametrize(
    ("plan", "statements_per_request"),
    [("free", 2), ("business", 1)],  # business is unlimited: nothing to count
)
def test_one_connection_per_authenticated_request(
    clocked: ClockedServer,
    database_use: Counter[str],
    plan: str,
    statements_per_request: int,
) -> None:
    key = clocked.create_key(f"trips-{uuid.uuid4().hex[:8]}@example.com", plan)
    with clocked.client(key) as c:
        # The first request also marks the key used and starts the day's count.
        assert c.get("/v1/no-such-thing").status_code == 404
        database_use.clear()
        for _ in range(REQUESTS):
            # Authenticated and charged, then answered by the router without the database.
            assert c.get("/v1/no-such-thing").status_code == 404
    assert database_use["connections"] == REQUESTS
    assert sum(database_use.values()) - database_use["connections"] == (
        REQUESTS * statements_per_request
    ), database_use
