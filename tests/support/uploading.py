"""Helpers for the files tests: uploads as clients send them, and raw HTTP for what httpx
would not send (a 2 GB Content-Length, an endless chunked body)."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import uuid
from pathlib import Path

import httpx

from pyexec.core.accounts import ensure_account, issue_api_key
from pyexec.core.db import Database
from tests.support.servers import Server

DATA = Path(__file__).resolve().parents[1] / "data"


def upload(
    client: httpx.Client, content: bytes, filename: str, content_type: str | None = None
) -> httpx.Response:
    part = (filename, content, content_type) if content_type else (filename, content)
    return client.post("/v1/files", files={"file": part})


def upload_ok(client: httpx.Client, content: bytes, filename: str) -> dict:
    resp = upload(client, content, filename)
    assert resp.status_code == 201, resp.text
    return resp.json()


def multipart(filename_header: bytes, content: bytes, boundary: bytes = b"b0undary") -> bytes:
    """A body with the Content-Disposition's filename exactly as given (bytes)."""
    return (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename_header + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
        b"--" + boundary + b"--\r\n"
    )


def post_multipart(
    client: httpx.Client, body: bytes, boundary: bytes = b"b0undary"
) -> httpx.Response:
    return client.post(
        "/v1/files",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"},
    )


def strict_json(text: str) -> object:
    """json.loads that refuses NaN and Infinity, as every non-Python JSON parser does."""

    def refuse(name: str) -> object:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def scoped_key(server: Server, scopes: list[str]) -> str:
    async def make() -> str:
        db = Database(server.settings().db_url)
        try:
            async with db.session() as session:
                email = f"scoped-{uuid.uuid4().hex[:8]}@example.com"
                account = await ensure_account(session, email, "business")
                _, plaintext = await issue_api_key(session, account, scopes=scopes)
                await session.commit()
            return plaintext
        finally:
            await db.dispose()

    return asyncio.run(make())


def raw_upload_head(
    key: str, *, content_length: int | None, boundary: bytes = b"XYZ", filename: bytes = b"big.bin"
) -> bytes:
    length = (
        f"Content-Length: {content_length}\r\n"
        if content_length is not None
        else "Transfer-Encoding: chunked\r\n"
    )
    return (
        f"POST /v1/files HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary.decode()}\r\n{length}\r\n"
    ).encode()


def part_head(boundary: bytes = b"XYZ", filename: bytes = b"big.bin") -> bytes:
    return (
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\n\r\n'
    )


def read_response(sock: socket.socket, timeout: float = 30) -> tuple[int, bytes]:
    """The status and body of the response on `sock` (headers up to Content-Length)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


def send_until_answered(sock: socket.socket, pieces: int, piece: bytes, *, chunked: bool) -> int:
    """Send up to `pieces` pieces, stopping as soon as the server answers (or hangs up).

    Returns the body bytes sent: fewer than `pieces * len(piece)` means the server refused
    before the body was all there.
    """
    sent = 0
    frame = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") if chunked else piece
    for _ in range(pieces):
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            break
        try:
            sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(piece)
    return sent
