"""A job's page, live: its events as Server-Sent Events carrying HTML that htmx swaps in.

The stream follows the job like `GET /v1/jobs/{id}/events` does (the logged events first,
then live ones, resumable by Last-Event-ID, the database deciding what is final), but each
event is rendered here, escaped and sanitised, into out-of-band swaps: the status badge, a
new cell, an output appended to its cell. When the job ends, a last `done` event carries the
job's whole final body and the page closes the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import ValidationError
from starlette.responses import Response, StreamingResponse

from pyexec.api.dashboard.jobs import job_view, render_job_body
from pyexec.api.dashboard.outputs import highlight_python, notebook_output_view
from pyexec.api.dashboard.sessions import Visitor, find_visitor
from pyexec.api.dashboard.templating import DashboardRoute, templates
from pyexec.api.deps import HoldsDep, RuntimeDep
from pyexec.api.errors import NotFound, RateLimited
from pyexec.api.holds import RETRY_AFTER_SECONDS, HeldStreamingResponse
from pyexec.api.job_reads import RECHECK_SECONDS, load_job
from pyexec.core.event_types import (
    CancelRequested,
    CellFinished,
    CellOutput,
    CellStarted,
    StatusChanged,
    parse_event,
)
from pyexec.core.events import BEGINNING, Event, is_final_status_event
from pyexec.core.models import Job, JobStatus
from pyexec.core.runtime import Runtime

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

# The same rhythm as the API's stream: the database is asked only after RECHECK_SECONDS of
# silence (in case a final status event was lost), and proxies are kept awake.
KEEPALIVE_SECONDS = 15.0
RECONNECT_MILLISECONDS = 1000
UPDATE = "update"
DONE = "done"


@router.get("/jobs/{job_id}/live")
async def job_live(
    request: Request,
    job_id: str,
    runtime: RuntimeDep,
    holds: HoldsDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> Response:
    visitor = await find_visitor(request, runtime)
    if visitor is None:
        # 204 makes EventSource stop reconnecting; the page's next load signs in.
        return Response(status_code=204)
    try:
        job = await load_job(runtime, job_id, visitor.account.id)
    except NotFound:
        return Response(status_code=204)
    since = last_event_id if last_event_id and runtime.events.is_event_id(last_event_id) else None
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    account_id = visitor.account.id
    try:
        # A page's stream counts against the account's open streams, as the API's do.
        holds.acquire("stream", account_id, runtime.settings.max_open_streams_per_account)
    except RateLimited:
        # EventSource gives up on an error status; a short stream that says why and asks to
        # be retried later keeps the page following the job once a stream is free.
        return StreamingResponse(
            iter([_paused_frames()]), media_type="text/event-stream", headers=headers
        )
    return HeldStreamingResponse(
        _stream(request, runtime, job, visitor, since or BEGINNING),
        media_type="text/event-stream",
        headers=headers,
        holds=holds,
        account_id=account_id,
    )


def _paused_frames() -> str:
    notice = templates.get_template("_live_event.html").render(kind="paused")
    return f"retry: {RETRY_AFTER_SECONDS * 1000}\n\n" + sse_frame(UPDATE, notice)


async def _stream(
    request: Request, runtime: Runtime, job: Job, visitor: Visitor, since: str
) -> AsyncIterator[str]:
    async with contextlib.aclosing(_frames(request, runtime, job, visitor, since)) as frames:
        try:
            async for frame in frames:
                yield frame
        except NotFound:
            return  # deleted meanwhile


async def _frames(
    request: Request, runtime: Runtime, job: Job, visitor: Visitor, since: str
) -> AsyncGenerator[str, None]:
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
    loop = asyncio.get_running_loop()
    async with runtime.events.subscribe(job.id, since=since) as inbox:
        job = await load_job(runtime, job.id, visitor.account.id)
        if JobStatus(job.status).is_final:
            yield await _done(request, runtime, job, visitor)
            return
        quiet_since = loop.time()
        while True:
            try:
                async with asyncio.timeout(RECHECK_SECONDS):
                    event = await inbox.get()
            except TimeoutError:
                job = await load_job(runtime, job.id, visitor.account.id)
                if JobStatus(job.status).is_final:
                    yield await _done(request, runtime, job, visitor)
                    return
                if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                    quiet_since = loop.time()
                    yield ": keep-alive\n\n"
                continue
            quiet_since = loop.time()
            html = render_event(event)
            if html:
                yield sse_frame(UPDATE, html, event.get("id"))
            if is_final_status_event(event):
                job = await load_job(runtime, job.id, visitor.account.id)
                yield await _done(request, runtime, job, visitor)
                return


async def _done(request: Request, runtime: Runtime, job: Job, visitor: Visitor) -> str:
    view = await job_view(runtime, job)
    return sse_frame(DONE, render_job_body(request, view, visitor))


def sse_frame(event: str, html: str, event_id: Any = None) -> str:
    # Every line of the payload gets its own `data:` prefix, so no text of a job (already
    # escaped as HTML) can end the frame or start a field of its own.
    lines = [f"id: {event_id}"] if event_id is not None else []
    lines.append(f"event: {event}")
    lines += [f"data: {line}" for line in html.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def render_event(event: Event) -> str:
    """An event as out-of-band swaps for the job's page; '' for events it does not show."""
    try:
        typed = parse_event(event)
    except ValidationError:
        return ""  # of a kind this version does not know (a newer worker's)
    context: dict[str, Any] = {"kind": typed.type}
    if isinstance(typed, StatusChanged):
        if typed.status not in {s.value for s in JobStatus}:
            return ""
        context["status"] = typed.status
    elif isinstance(typed, CellStarted):
        context.update(cell=typed.cell, code=highlight_python(typed.source))
    elif isinstance(typed, CellOutput):
        view = notebook_output_view(typed.output, typed.cell)
        if view is None:
            return ""
        context.update(cell=typed.cell, output=view)
    elif isinstance(typed, CellFinished):
        context.update(cell=typed.cell, state=typed.status)
    elif not isinstance(typed, CancelRequested):
        return ""  # markdown cells come with the final body
    return templates.get_template("_live_event.html").render(**context)
