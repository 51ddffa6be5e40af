from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import Server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(Path(tmp_path_factory.mktemp("pyexec-data"))).start()
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
