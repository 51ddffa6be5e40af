"""`pyexec api` and `pyexec worker` refuse to start on a schema other than theirs, or without
Redis, and say what to do; `pyexec migrate` fixes the schema."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support.servers import PYEXEC, ROOT, Server, WorkerProcess
from tests.support.services import PostgresCluster, RedisServer


def _run(process: Server | WorkerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYEXEC, *args],
        env=process.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_api_and_worker_refuse_an_unmigrated_database_until_migrate(
    tmp_path: Path, postgres: PostgresCluster, redis_server: RedisServer
) -> None:
    url = postgres.create_database()
    api = Server(tmp_path, database_url=url, redis_url=redis_server.url, command="api")
    worker = WorkerProcess(tmp_path, database_url=url, redis_url=redis_server.url)
    for process, name in ((api, "api"), (worker, "worker")):
        refused = _run(process, name)
        assert refused.returncode == 2, refused
        assert "schema is empty" in refused.stderr
        assert "run `pyexec migrate`" in refused.stderr

    migrated = _run(api, "migrate")
    assert migrated.returncode == 0 and "latest schema" in migrated.stdout
    api.start()
    try:
        assert httpx.get(f"{api.url}/readyz").status_code == 200
    finally:
        api.stop()


def test_api_refuses_a_schema_at_another_revision(
    tmp_path: Path, postgres: PostgresCluster, redis_server: RedisServer
) -> None:
    url = postgres.create_database()
    api = Server(tmp_path, database_url=url, redis_url=redis_server.url, command="api")
    assert _run(api, "migrate").returncode == 0

    async def set_revision() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("UPDATE alembic_version SET version_num = '0000'")
        finally:
            await conn.close()

    asyncio.run(set_revision())
    refused = _run(api, "api")
    assert refused.returncode == 2
    assert "at revision 0000" in refused.stderr and "run `pyexec migrate`" in refused.stderr


@pytest.mark.parametrize("command", ["api", "worker"])
def test_scaled_commands_need_redis(tmp_path: Path, command: str) -> None:
    refused = _run(Server(tmp_path), command)
    assert refused.returncode == 2
    assert "REDIS_URL" in refused.stderr and "pyexec serve" in refused.stderr


def test_a_bad_redis_url_names_the_variable(tmp_path: Path) -> None:
    refused = _run(Server(tmp_path, redis_url="http://localhost:6379"), "worker")
    assert refused.returncode == 2 and "REDIS_URL" in refused.stderr
