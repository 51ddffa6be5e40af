"""Receiving an upload: a multipart body parsed as it streams, its `file` part written straight
to storage, refused with 413 the moment it passes the account's limit.

Starlette's `request.form()` would first spool the whole body to a temporary file, so a 2 GB
upload would fill the disk before anyone could refuse it. Here the body is read chunk by chunk:
a declared `Content-Length` over the limit is refused before a byte is read, and a chunked body
(no length) is cut off as soon as its file part passes the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from pyexec.api.errors import InvalidRequest, PayloadTooLarge
from pyexec.core.files import detect_media_type, human_bytes, sanitize_filename
from pyexec.core.storage import IncomingFile, Storage, UploadTooLarge

FILE_FIELD = "file"
# Room for the multipart framing around the file: boundaries, part headers, small fields.
MULTIPART_SLACK_BYTES = 64 * 1024
MAX_PART_HEADERS = 16
MAX_HEADER_BYTES = 8 * 1024
MAX_BOUNDARY_BYTES = 70


@dataclass
class Received:
    """The `file` part of an upload, already in storage's incoming area."""

    filename: str
    media_type: str
    incoming: IncomingFile


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    field_name: str = ""
    filename: str | None = None
    content_type: str | None = None


class _Parse:
    """State of one body's parse. Parser callbacks are synchronous, so the file part's data is
    queued in `pending` and written to storage after each chunk."""

    def __init__(self) -> None:
        self.part: _Part | None = None
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.file_part: _Part | None = None
        self.in_file_part = False
        self.file_parts = 0
        self.pending: list[bytes] = []
        self.finished = False

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.in_file_part = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        assert self.part is not None
        name = self.header_field.decode("latin-1").strip().lower()
        self.part.headers[name] = self.header_value.decode("latin-1").strip()
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        part = self.part
        assert part is not None
        _, options = parse_options_header(part.headers.get("content-disposition", ""))
        part.field_name = options.get(b"name", b"").decode("utf-8", errors="replace")
        if b"filename" in options:
            # Browsers and curl send the name's UTF-8 bytes as they are.
            part.filename = options[b"filename"].decode("utf-8", errors="replace")
        part.content_type = part.headers.get("content-type")
        if part.field_name == FILE_FIELD:
            self.file_parts += 1
            if self.file_part is None:
                self.file_part = part
                self.in_file_part = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file_part:
            self.pending.append(bytes(data[start:end]))

    def on_part_end(self) -> None:
        self.in_file_part = False

    def on_end(self) -> None:
        self.finished = True


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise InvalidRequest(
            "Upload a file as multipart/form-data with the file in a field named 'file' "
            "(curl -F file=@data.csv ...).",
            details=[{"field": FILE_FIELD, "problem": "expected a multipart/form-data body"}],
        )
    boundary = options[b"boundary"]
    if len(boundary) > MAX_BOUNDARY_BYTES:
        raise InvalidRequest(
            f"The multipart boundary is {len(boundary)} characters long; at most "
            f"{MAX_BOUNDARY_BYTES} are allowed (RFC 2046).",
            details=[{"field": FILE_FIELD, "problem": "multipart boundary too long"}],
        )
    return boundary


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is over this account's upload limit of {human_bytes(limit)} ({limit} bytes)."
    )


def _parser(boundary: bytes, state: _Parse) -> MultipartParser:
    return MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": state.on_part_begin,
            "on_part_data": state.on_part_data,
            "on_part_end": state.on_part_end,
            "on_header_field": state.on_header_field,
            "on_header_value": state.on_header_value,
            "on_header_end": state.on_header_end,
            "on_headers_finished": state.on_headers_finished,
            "on_end": state.on_end,
        },
        max_header_count=MAX_PART_HEADERS,
        max_header_size=MAX_HEADER_BYTES,
    )


def over_quota(quota: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file would take this account over its plan's storage quota of "
        f"{human_bytes(quota)} ({quota} bytes), which counts its files and its jobs' "
        "artifacts and notebooks. Delete files or jobs to make room.",
        details=[{"field": FILE_FIELD, "problem": "over the account's storage quota"}],
    )


async def receive_upload(request: Request, storage: Storage, limit: int) -> Received:
    """Stream the body's `file` part into storage. The caller commits or discards it."""
    boundary = _boundary(request)
    body_limit = limit + MULTIPART_SLACK_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_limit:
        raise _too_large(limit)

    state = _Parse()
    try:
        parser = _parser(boundary, state)
    except FormParserError as exc:
        raise InvalidRequest(
            f"Malformed multipart body: {exc}",
            details=[{"field": FILE_FIELD, "problem": "malformed multipart body"}],
        ) from None
    incoming = storage.incoming(limit)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise _too_large(limit)
            parser.write(chunk)
            for data in state.pending:
                await incoming.write(data)
            state.pending.clear()
            if state.file_parts > 1:
                raise InvalidRequest(
                    "Send one file per request.",
                    details=[{"field": FILE_FIELD, "problem": "given more than once"}],
                )
        parser.finalize()
        if state.file_part is None:
            raise InvalidRequest(
                "No file in the upload: put it in a multipart field named 'file'.",
                details=[{"field": FILE_FIELD, "problem": "field required"}],
            )
        if not state.finished:
            raise InvalidRequest(
                "The multipart body ended before its closing boundary.",
                details=[{"field": FILE_FIELD, "problem": "incomplete multipart body"}],
            )
    except UploadTooLarge:
        raise _too_large(limit) from None
    except FormParserError as exc:
        await incoming.discard()
        raise InvalidRequest(
            f"Malformed multipart body: {exc}",
            details=[{"field": FILE_FIELD, "problem": "malformed multipart body"}],
        ) from None
    except ClientDisconnect:
        await incoming.discard()
        raise InvalidRequest("The upload was interrupted before it finished.") from None
    except BaseException:
        await incoming.discard()
        raise
    part = state.file_part
    filename = sanitize_filename(part.filename)
    media_type = detect_media_type(filename, incoming.head, part.content_type)
    return Received(filename=filename, media_type=media_type, incoming=incoming)
