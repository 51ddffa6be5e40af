"""HTTP metrics as a pure ASGI middleware (outermost): each request counted by method, route
template and status, and timed, into `core.metrics`.

The route is the template of the route that matches (`/v1/jobs/{job_id}`), never the raw
path, so that ids and probes of random paths cannot grow the number of series; a request no
route matches is counted under `unmatched`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route
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
    """The path template of the app's route for this request; `unmatched` if none.

    Matched once, before routing, so that a request refused on the way in (401, 429, 413)
    counts under its route too; kept in the scope's state for the trace span to reuse.
    """
    state = scope.setdefault("state", {})
    if "route_template" not in state:
        state["route_template"] = _match(scope)
    return str(state["route_template"])


def _match(scope: Scope) -> str:
    app = scope.get("app")
    state = getattr(app, "state", None)
    if state is None:
        return metrics.UNMATCHED_ROUTE
    routes: list[BaseRoute] | None = getattr(state, "metrics_routes", None)
    if routes is None:
        routes = list(_leaves(getattr(app, "routes", ())))
        state.metrics_routes = routes
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return _template(route)
        if match == Match.PARTIAL:
            partial = partial or _template(route)  # the path is right, the method not (405)
    return partial or metrics.UNMATCHED_ROUTE


def _leaves(routes: Iterable[Any]) -> Iterator[BaseRoute]:
    """The app's routes and mounts, flattened out of included routers (none has a prefix)."""
    for route in routes:
        if isinstance(route, (Route, Mount)) or (
            isinstance(route, BaseRoute) and hasattr(route, "path_format")
        ):
            yield route
            continue
        # FastAPI keeps an included router as one entry (its routes have their full paths).
        inner = getattr(route, "original_router", None)
        yield from _leaves(getattr(inner if inner is not None else route, "routes", ()))


def _template(route: BaseRoute) -> str:
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"  # static files: one series for the whole mount
    return str(getattr(route, "path_format", None) or getattr(route, "path", ""))
