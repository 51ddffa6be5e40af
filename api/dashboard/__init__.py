"""The web dashboard: server-rendered pages at `/` for the people who use PyExec.

Jinja2 templates, htmx for partial updates and live status, Pico CSS; the front-end files are
vendored under `static/` (no CDN, no build step). It is a part of the API floor: it reads and
writes through `core` (and renders notebooks with `notebooks`), as the `/v1` routes do, and
reuses their checks. People sign in with a password or a one-time link; sessions live in the
database and authenticate these pages only, never `/v1`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from pyexec.api.dashboard import auth, files, jobs, keys, live, usage
from pyexec.api.dashboard.security import PageHeaders
from pyexec.api.dashboard.templating import STATIC_DIR, error_page

__all__ = ["install_dashboard"]

# Paths of the service itself, whose errors stay in the API's JSON error model.
SERVICE_PREFIXES = ("/v1", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics")


def install_dashboard(app: FastAPI) -> None:
    """Mount the dashboard on `app` (after the API's routes and error handlers)."""
    for module in (auth, jobs, live, files, keys, usage):
        app.include_router(module.router)
    app.mount("/static", PageHeaders(StaticFiles(directory=STATIC_DIR)), name="static")

    api_handler = app.exception_handlers[StarletteHTTPException]

    async def not_found_page(request: Request, exc: Exception) -> Response:
        # A person who mistypes a page's address gets a page; API clients keep their JSON.
        path = request.url.path
        if (
            isinstance(exc, StarletteHTTPException)
            and exc.status_code == 404
            and not path.startswith(SERVICE_PREFIXES)
            and "text/html" in request.headers.get("accept", "")
        ):
            return error_page(request, 404, "There is no page at this address.")
        handled = api_handler(request, exc)
        if isinstance(handled, Response):
            return handled
        return await handled

    app.exception_handlers[StarletteHTTPException] = not_found_page
