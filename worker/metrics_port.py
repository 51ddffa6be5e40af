"""A `pyexec worker`'s own `/metrics` (it serves no other HTTP): `PYEXEC_METRICS_PORT` on
`PYEXEC_HOST`, off when the port is unset.

A small HTTP/1.1 responder on the worker's event loop, not a thread: the exposition reads the
queue's depth from Redis with the loop's client, and a loop that hangs fails the scrape,
which the container's probe relies on (images/pyexec/probe.py). One request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus

from pyexec.core import metrics
from pyexec.core.runtime import Runtime
from pyexec.core.settings import SettingsError

log = logging.getLogger("pyexec.worker")

READ_TIMEOUT_SECONDS = 10.0
MAX_HEADER_LINES = 100


@asynccontextmanager
async def metrics_port(runtime: Runtime) -> AsyncIterator[int | None]:
    """Serve the process's metrics while the block runs; yields the port (None: not served)."""
    settings = runtime.settings
    if not settings.metrics_enabled or settings.metrics_port is None:
        yield None
        return

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _answer(runtime, reader, writer)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            pass  # the client went away or spoke nonsense: nothing to tell it
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    try:
        server = await asyncio.start_server(handle, settings.host, settings.metrics_port)
    except OSError as exc:
        raise SettingsError(
            f"PYEXEC_METRICS_PORT: cannot serve metrics on {settings.host}:"
            f"{settings.metrics_port} ({exc.strerror or exc})"
        ) from None
    port = int(server.sockets[0].getsockname()[1])
    log.info("metrics at http://%s:%d/metrics", settings.host, port)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def _answer(
    runtime: Runtime, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    async with asyncio.timeout(READ_TIMEOUT_SECONDS):
        request_line = (await reader.readline()).decode("latin-1").split()
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = (await reader.readline()).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if len(request_line) != 3:
        await _send(writer, 400, b"bad request\n")
        return
    method, target, _ = request_line
    if target.split("?", 1)[0] != "/metrics":
        await _send(writer, 404, b"not found: this port serves /metrics only\n")
        return
    if method not in ("GET", "HEAD"):
        await _send(writer, 405, b"method not allowed\n", extra={"Allow": "GET, HEAD"})
        return
    settings = runtime.settings
    if not metrics.authorized(settings.metrics_token, headers.get("authorization")):
        await _send(
            writer,
            401,
            b"/metrics needs Authorization: Bearer <PYEXEC_METRICS_TOKEN>\n",
            extra={"WWW-Authenticate": "Bearer"},
        )
        return
    body, content_type = await metrics.exposition(runtime.queue)
    await _send(writer, 200, body, content_type=content_type, head=method == "HEAD")


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    extra: dict[str, str] | None = None,
    head: bool = False,
) -> None:
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (extra or {}).items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if not head:
        writer.write(body)
    await writer.drain()
