"""The steps an operation asks its driver to take: the seam between the one shared core and the
two clients.

Every operation of the SDK (submit a job, wait for it, follow its events, download a file) is
written once, as a generator that yields these steps and gets their results back; it does no
I/O itself. `PyExec` runs operations with a blocking driver and `AsyncPyExec` with an asyncio
one (`_drivers.py`), so request building, errors, retries and resumption behave the same in both.
"""

from __future__ import annotations

import io
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


@dataclass(frozen=True)
class Upload:
    """A multipart body with one file part, streamed from `file` (never read whole)."""

    file: io.BufferedIOBase | io.RawIOBase | Any
    filename: str
    size: int
    start: int  # where the file's content begins (rewound to before each attempt)
    field: str = "file"
    boundary: str = ""
    chunk_size: int = 1 << 20

    def head(self) -> bytes:
        name = self.filename.replace("\\", "\\\\").replace('"', "%22")
        name = name.replace("\r", "%0D").replace("\n", "%0A")
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{self.field}"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()

    def tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_length(self) -> int:
        return len(self.head()) + self.size + len(self.tail())

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # under the base URL, e.g. /v1/jobs
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    upload: Upload | None = None
    # Per request, when the default would be wrong (a long poll holds its answer back).
    timeout: httpx.Timeout | None = None
    # Safe to send again after a response was lost: GET, DELETE, a submission carrying an
    # Idempotency-Key. Others are retried only when the server surely did nothing.
    idempotent: bool = False


# --- steps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send `request`; the result is the `httpx.Response`, its body read unless `stream`.

    A streamed response with an error status is read anyway (its body says what went wrong).
    A transport failure (`httpx.TransportError`) is thrown into the operation instead.
    """

    request: Request
    stream: bool = False


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class NextLine:
    """The next line of a streamed response's body; None once it ended."""

    response: httpx.Response


@dataclass(frozen=True)
class SaveBody:
    """Write a streamed response's body to `path` (created or truncated); the result is bytes
    written."""

    response: httpx.Response
    path: Path


@dataclass(frozen=True)
class Close:
    """Done with a streamed response (the driver also closes any left open at the end)."""

    response: httpx.Response


@dataclass(frozen=True)
class Emit:
    """Hand a value to the caller of a streaming operation (an event, a listed job)."""

    value: Any


Step = Send | Sleep | NextLine | SaveBody | Close | Emit

# An operation yields steps, receives their results, and returns its result.
Operation = Generator[Step, Any, T]
