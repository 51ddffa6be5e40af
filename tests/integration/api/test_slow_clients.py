"""Clients that hold connections instead of using them: slow headers, slow bodies, many
connections from one address. The service must close them, log it, and serve others."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Server
from tests.support.uploading import part_head, raw_upload_head, read_response

HEADER_TIMEOUT = 2
PER_CLIENT = 10
ATTACKER = "127.0.0.2"  # loopback too, but another client than the tests' own 127.0.0.1


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        Path(tmp_path_factory.mktemp("slow-clients")),
        {
            "PYEXEC_HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            "PYEXEC_HTTP_MAX_CONNECTIONS_PER_CLIENT": str(PER_CLIENT),
            "PYEXEC_HTTP_MIN_BODY_RATE": "4096",
            "PYEXEC_KERNEL_POOL_SIZE": "1",
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()


def _connect(server: Server) -> socket.socket:
    sock = socket.socket()
    sock.bind((ATTACKER, 0))
    sock.connect(("127.0.0.1", server.port))
    return sock


def _closed(sock: socket.socket, within: float) -> bytes | None:
    """What the server sent before it closed the connection, or None if it stayed open."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def test_headers_dripped_line_by_line_are_cut_off(guarded: Server) -> None:
    sock = _connect(guarded)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    closed = None
    for i in range(10):  # a header line a second, never the blank line that ends them
        closed = _closed(sock, within=1.0)
        if closed is not None:
            break
        sock.sendall(f"X-Drip-{i}: 1\r\n".encode())
    sock.close()
    assert closed is not None, "the connection stayed open"
    assert b"408" in closed.split(b"\r\n", 1)[0]
    assert time.monotonic() - started < HEADER_TIMEOUT + 5
    assert "no complete request headers within 2 s" in guarded.log()


def test_one_client_cannot_take_every_connection(guarded: Server) -> None:
    held = [_connect(guarded) for _ in range(PER_CLIENT)]
    try:
        extra = _connect(guarded)
        assert _closed(extra, within=5.0) is not None, "an eleventh connection was kept"
        extra.close()
        # Others are served meanwhile.
        assert httpx.get(f"{guarded.url}/healthz", timeout=5).status_code == 200
    finally:
        for sock in held:
            sock.close()
    assert "the cap of 10 open connections per client" in guarded.log()
    time.sleep(0.5)  # the held ones are released, and the client may connect again
    again = _connect(guarded)
    again.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    status, _ = read_response(again)
    again.close()
    assert status == 200


def test_an_upload_trickled_in_is_cut_off(guarded: Server) -> None:
    key = guarded.create_key("slow-upload@example.com")
    sock = _connect(guarded)
    sock.sendall(raw_upload_head(key, content_length=1_000_000) + part_head())
    started = time.monotonic()
    closed = None
    while time.monotonic() - started < 30:
        closed = _closed(sock, within=1.0)
        if closed is not None:
            break
        sock.sendall(b"x" * 100)  # 100 bytes a second, against a minimum of 4096
    sock.close()
    assert closed is not None, "the slow upload was never cut off"
    assert b"408" in closed.split(b"\r\n", 1)[0]
    assert "request body at" in guarded.log()
