"""Request context as a pure ASGI middleware: a request id on every response, and a 500 in the
error model for anything unexpected (outermost, so even a crash in another middleware is caught).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyexec.api.errors import error_body, error_response
from pyexec.core.files import human_bytes

log = logging.getLogger("pyexec.api")
# One line per request: the path without its query string, which may carry a secret.
access_log = logging.getLogger("pyexec.access")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(scope)
        started = False
        status = 500
        t0 = time.monotonic()

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s %d %.0fms request_id=%s",
                    _client(scope),
                    scope.get("method"),
                    scope.get("path"),
                    status,
                    (time.monotonic() - t0) * 1000,
                    request_id,
                )
        except Exception:
            log.exception(
                "unhandled error, request_id=%s %s %s",
                request_id,
                scope.get("method"),
                scope.get("path"),
            )
            if started:
                raise
            body = error_body(
                500,
                "internal_error",
                f"An unexpected error occurred; quote request id {request_id} when reporting it.",
            )
            payload = json.dumps(body).encode()
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})


class JsonBodyMiddleware:
    """Read a form-encoded body on /v1 as JSON.

    `curl -d '{...}'` sends `application/x-www-form-urlencoded`; every /v1 body is JSON (files
    are multipart), so treating such a body as JSON turns a confusing 400 into what was meant.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/v1/"):
            headers = scope.get("headers", [])
            if any(
                k == b"content-type" and v.startswith(b"application/x-www-form-urlencoded")
                for k, v in headers
            ):
                scope = dict(scope)
                scope["headers"] = [(k, v) for k, v in headers if k != b"content-type"] + [
                    (b"content-type", b"application/json")
                ]
        await self.app(scope, receive, send)


# The largest JSON body a /v1 route takes: `code` of 1 MB, escaped as JSON (up to 3x with
# `ensure_ascii`), with room for the other fields. Uploads are multipart and limited per plan.
MAX_JSON_BODY_BYTES = 4 * 1024 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyLimitMiddleware:
    """Refuse a /v1 body over MAX_JSON_BODY_BYTES with 413 before it is read: at once when its
    Content-Length says so, else as soon as its chunks pass the limit (inside authentication,
    so that an unauthenticated or out-of-scope request is refused before its body is read).
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_JSON_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in _BODY_METHODS
            or not scope.get("path", "").startswith("/v1/")
            or _is_multipart(scope)
        ):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            # The body is left unread: the connection cannot carry another request.
            headers = {"Connection": "close"}
            response = error_response(413, "payload_too_large", self._message(), headers=headers)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                # FastAPI lets an HTTPException from reading the body through as it is.
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return (
            f"The request body is over {human_bytes(self.limit)} ({self.limit} bytes); "
            "'code' may be at most 1,000,000 bytes. Upload data as files (POST /v1/files)."
        )


def _is_multipart(scope: Scope) -> bool:
    return any(
        k == b"content-type" and v.lower().startswith(b"multipart/form-data")
        for k, v in scope.get("headers", [])
    )


def _content_length(scope: Scope) -> int | None:
    for k, v in scope.get("headers", []):
        if k == b"content-length":
            return int(v) if v.isdigit() else None
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def request_id_for(scope: Scope) -> str:
    """The request's id: made once (by the outermost middleware), kept in its scope's state."""
    state = scope.setdefault("state", {})
    if not state.get("request_id"):
        state["request_id"] = _request_id(scope)
    return str(state["request_id"])


def _request_id(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SAFE_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


def request_id_of(state: Any) -> str:
    return getattr(state, "request_id", "") or ""
