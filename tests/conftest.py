from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pyexec.kernels.gateway.launcher import is_tagged, worker_tag
from tests.support.servers import Server
from tests.support.services import EnterpriseGateway, PostgresCluster, RedisServer

# Every test that takes `server` or `database_url` runs once per database: SQLite in the data
# dir (the embedded default) and PostgreSQL (a fresh database on a throwaway cluster).
# Tests marked `tests.support.servers.ALSO_ON_GATEWAY` also run on a server whose kernels an
# Enterprise Gateway starts (with SQLite: the database makes no difference to kernels).
DATABASES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the session (or PYEXEC_TEST_POSTGRES_URL's server)."""
    cluster = PostgresCluster(external_url=os.environ.get("PYEXEC_TEST_POSTGRES_URL")).start()
    try:
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture(scope="session")
def gateway() -> Iterator[EnterpriseGateway]:
    """One Jupyter Enterprise Gateway for the session, with PyExec's local kernelspec (its
    own venv is made on first use and kept in ~/.cache/pyexec-tests)."""
    eg = EnterpriseGateway().start()
    try:
        yield eg
    finally:
        eg.cleanup()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A Redis of the test module's own (tests may restart it; it comes back empty)."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


def _database_url(request: pytest.FixtureRequest, kind: str) -> str | None:
    if kind == "sqlite":
        return None  # the default: SQLite in the data dir
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """DATABASE_URL for a server of the test's own: None (SQLite) or a new PostgreSQL database."""
    return _database_url(request, request.param)


@pytest.fixture(scope="session", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    data_dir = Path(tmp_path_factory.mktemp("pyexec-data"))
    if request.param == "gateway":
        gateway: EnterpriseGateway = request.getfixturevalue("gateway")
        worker_id = f"server-{uuid.uuid4().hex[:8]}"
        srv = Server(data_dir, env_overrides=gateway.pyexec_env(worker_id)).start()
        try:
            yield srv
        finally:
            srv.stop()
        # Every lease ended in a DELETE, and the pool's idle kernels went with the server.
        tag = worker_tag(worker_id)
        assert [k for k in gateway.kernels() if is_tagged(str(k["id"]), tag)] == []
        return
    srv = Server(data_dir, database_url=_database_url(request, request.param)).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def api_key(server: Server) -> str:
    return server.create_key(f"user-{uuid.uuid4().hex[:8]}@example.com")


@pytest.fixture
def client(server: Server, api_key: str) -> Iterator[httpx.Client]:
    with server.client(api_key) as c:
        yield c
