"""The client against the real server (`server`: once per database), a key of a business
account of its own per test (unlimited: no test spends another's quota), and the fault proxy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from pyexec_client import AsyncPyExec, PyExec
from tests.integration.client.fault_proxy import FaultProxy
from tests.support.servers import Server


@pytest.fixture
def key(server: Server) -> str:
    return server.create_key(f"client-{uuid.uuid4().hex[:8]}@example.com")


@pytest.fixture
def sdk(server: Server, key: str) -> Iterator[PyExec]:
    with PyExec(api_key=key, base_url=server.url) as client:
        yield client


@pytest.fixture
async def async_sdk(server: Server, key: str) -> AsyncIterator[AsyncPyExec]:
    async with AsyncPyExec(api_key=key, base_url=server.url) as client:
        yield client


@pytest.fixture
def proxy(server: Server) -> Iterator[FaultProxy]:
    proxy = FaultProxy(server.url).start()
    try:
        yield proxy
    finally:
        proxy.stop()
