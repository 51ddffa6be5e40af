"""Request context as a pure ASGI middleware: a request id on every response, and a 500 in the
error model for anything unexpected (outermost, so even a crash in another middleware is caught).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

log = logging.getLogger("pyexec.api")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
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


def _request_id(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SAFE_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


def request_id_of(state: Any) -> str:
    return getattr(state, "request_id", "") or ""
