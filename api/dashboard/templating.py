"""Rendering pages: the Jinja2 environment (autoescaping), filters, and the dashboard's route
class, which turns every failure into an HTML page (or fragment) with the page headers."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from pyexec.api.dashboard import outputs
from pyexec.api.dashboard.security import CSRF_FIELD, CsrfError, apply_page_headers
from pyexec.api.dashboard.sessions import (
    SignInRequired,
    Visitor,
    anonymous_csrf,
    keep_anonymous_csrf,
)
from pyexec.api.errors import ApiError
from pyexec.api.schemas import as_utc
from pyexec.core.files import human_bytes
from pyexec.core.models import Job, JobStatus

log = logging.getLogger("pyexec.dashboard")

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    return (
        "" if value is None else as_utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def seconds_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def duration(job: Job) -> str:
    """How long the job ran (or has been running); '—' before it started."""
    if job.started_at is None:
        return "—"
    end = job.completed_at
    if end is None:
        if JobStatus(job.status).is_final:
            return "—"
        return "running"
    return seconds_text(max(0.0, (as_utc(end) - as_utc(job.started_at)).total_seconds()))


def number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


def is_final(status: str) -> bool:
    return status in {s.value for s in JobStatus if s.is_final}


PROGRESS = {
    JobStatus.pending.value: "Waiting to start: the job is queued (behind your running jobs, "
    "or for a free kernel).",
    JobStatus.running.value: "Running: each cell appears below as it runs.",
}


def progress_text(status: str) -> str:
    return PROGRESS.get(status, "Finished: loading the results…")


@cache
def static_version() -> str:
    """A digest of the static files: their URLs change when they do, so caches never serve
    yesterday's script with today's page."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def static_url(path: str) -> str:
    return f"/static/{path}?v={static_version()}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        iso=iso,
        duration=duration,
        human_bytes=human_bytes,
        number=number,
        seconds=seconds_text,
        markdown=outputs.markdown_html,
    )
    env.globals.update(
        static=static_url,
        csrf_field=CSRF_FIELD,
        is_final=is_final,
        final_statuses=[s.value for s in JobStatus if s.is_final],
        progress_text=progress_text,
        highlight=outputs.highlight_python,
    )
    return env


templates = Jinja2Templates(env=_environment())


def page(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render a template with what every page needs: the visitor, a CSRF token, settings."""
    runtime = request.app.state.runtime
    visitor: Visitor | None = getattr(request.state, "visitor", None)
    csrf = visitor.csrf_token if visitor is not None else anonymous_csrf(request, runtime)
    full = {
        "nav": "",
        "notice": None,
        "visitor": visitor,
        "csrf_token": csrf,
        "signup_open": runtime.settings.signup == "open",
        "htmx": bool(request.headers.get("hx-request")),
        **(context or {}),
    }
    response = templates.TemplateResponse(
        request, name, full, status_code=status_code, headers=dict(headers or {})
    )
    if visitor is None:
        keep_anonymous_csrf(request, runtime, response)
    return apply_page_headers(response)


def error_page(request: Request, status: int, message: str, title: str | None = None) -> Response:
    headline = title or {
        400: "That did not work",
        403: "Not allowed",
        404: "Not found",
        409: "Not now",
        413: "Too large",
        429: "Too many attempts",
    }.get(status, "Something went wrong")
    name = "_error_fragment.html" if request.headers.get("hx-request") else "error.html"
    return page(
        request,
        name,
        {"status": status, "title": headline, "message": message},
        status_code=status,
    )


def sign_in_redirect(request: Request, exc: SignInRequired) -> Response:
    if request.headers.get("hx-request"):
        response = Response(status_code=204, headers={"HX-Redirect": exc.location})
    else:
        response = RedirectResponse(exc.location, status_code=303)
    return apply_page_headers(response)


class DashboardRoute(APIRoute):
    """Every dashboard response carries the page headers, and every failure is a page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired as exc:
                return sign_in_redirect(request, exc)
            except CsrfError as exc:
                return error_page(request, 403, f"{exc} Reload the page and try again.")
            except ApiError as exc:
                response = error_page(request, exc.status, exc.message)
                for name, value in exc.headers.items():
                    if name.lower() != "www-authenticate":
                        response.headers[name] = value
                return response
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'value'}: {e.get('msg')}"
                    for e in exc.errors()[:5]
                )
                return error_page(request, 400, f"Invalid request: {problems}")
            except StarletteHTTPException as exc:
                detail = exc.detail if isinstance(exc.detail, str) else "That did not work."
                return error_page(request, exc.status_code, detail)
            return apply_page_headers(response)

        return route
