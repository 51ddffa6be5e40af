"""The request's log context and trace span, outermost of the API's middleware.

Every line logged while a request is handled carries its `request_id` (and, once
`AuthenticationMiddleware` has found the caller, its `account_id`); with tracing on, the request
is one span named after its route template (`POST /v1/jobs`, never a path with ids in it), the
root of the trace its job continues in the worker.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyexec.api.http_metrics import route_template
from pyexec.api.middleware import request_id_for
from pyexec.core import logs, metrics, tracing


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(scope)
        method = str(scope.get("method", ""))
        with (
            logs.bind(request_id=request_id),
            tracing.span(
                f"HTTP {method}",
                {"http.request.method": method, "url.path": str(scope.get("path", ""))},
            ) as span,
        ):
            if span is None:
                await self.app(scope, receive, send)
                return

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", int(message["status"]))
                    if message["status"] >= 500:
                        from opentelemetry.trace import Status, StatusCode

                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            finally:
                route = route_template(scope)
                if route != metrics.UNMATCHED_ROUTE:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
