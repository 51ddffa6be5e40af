"""HTTP metrics as a pure ASGI middleware (outermost): each request counted by method, route
template and status, and timed, into `core.metrics`.

The route is the template of the route that matches (`/v1/jobs/{job_id}`), never the raw
path, so that ids and probes of random paths cannot grow the number of series; a request no
route matches is counted under `unmatched`.
"""

from __future__ import annotations

import time

from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyexec.core import metrics


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        route = route_template(scope)  # before routing, which rewrites the scope (mounts)
        status = 500  # unless a response starts: what the client gets for a crash

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            metrics.http_request(scope.get("method", ""), route, status, time.perf_counter() - t0)


def route_template(scope: Scope) -> str:
    """The path template of the app's route for this request; `unmatched` if none."""
    app = scope.get("app")
    router = getattr(app, "router", None)
    partial: str | None = None
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(scope)
        if match == Match.NONE:
            continue
        template = _template(route)
        if match == Match.FULL:
            return template
        partial = partial or template  # the path is right, the method is not (405)
    return partial or metrics.UNMATCHED_ROUTE


def _template(route: object) -> str:
    path = str(getattr(route, "path", "") or "")
    if isinstance(route, Mount):
        return f"{path}/{{path}}"  # static files: one series for the whole mount
    return path or metrics.UNMATCHED_ROUTE
