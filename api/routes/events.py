"""GET /v1/jobs/{id}/events: a job's events as Server-Sent Events, resumable by Last-Event-ID.

The stream replays the job's logged events (all of them, or those after `Last-Event-ID`), then
follows it live: `status` changes, `cell_started`, `output` (stdout/stderr and rich outputs as
the kernel sends them), `cell_finished`, and `cancel_requested`. When the job reaches a final
status, a last `result` event carries the job object (as `GET /v1/jobs/{id}` returns it) and
the stream ends. The database decides what is final: if the log no longer holds the job's end
(it is kept for `PYEXEC_EVENTS_RETENTION_SECONDS` after the last event), `result` still comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from pyexec.api.auth import Caller
from pyexec.api.deps import HoldsDep, RuntimeDep
from pyexec.api.errors import InvalidRequest, NotFound
from pyexec.api.holds import HeldStreamingResponse
from pyexec.api.job_reads import RECHECK_SECONDS, load_job
from pyexec.api.routes.jobs import ERRORS, JobsRead, job_out
from pyexec.core.event_types import parse_event
from pyexec.core.events import BEGINNING, Event, is_final_status_event
from pyexec.core.models import Job, JobStatus
from pyexec.core.runtime import Runtime

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
log = logging.getLogger("pyexec.api")

RESULT = "result"
KEEPALIVE_SECONDS = 15.0
RECONNECT_MILLISECONDS = 1000


@router.get(
    "/{job_id}/events",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "The job's events as Server-Sent Events; the last one is `result`.",
        },
        **ERRORS,
    },
    summary="Follow a job's events (Server-Sent Events)",
    response_class=StreamingResponse,
)
async def job_events(
    job_id: str,
    caller: JobsRead,
    runtime: RuntimeDep,
    holds: HoldsDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="Resume after this event id (what the stream's `id:` lines carried).",
        ),
    ] = None,
) -> StreamingResponse:
    job = await load_job(runtime, job_id, caller.account.id)
    if last_event_id is not None and not runtime.events.is_event_id(last_event_id):
        raise InvalidRequest(
            "Last-Event-ID is not an event id of this job's stream.",
            details=[{"field": "Last-Event-ID", "problem": "not an id this stream sent"}],
        )
    holds.acquire("stream", caller.account.id, runtime.settings.max_open_streams_per_account)
    return HeldStreamingResponse(
        _stream(runtime, job, caller, last_event_id or BEGINNING),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        holds=holds,
        account_id=caller.account.id,
    )


async def _stream(runtime: Runtime, job: Job, caller: Caller, since: str) -> AsyncIterator[str]:
    # aclosing: a client that hangs up ends the subscription now, not when collected.
    async with contextlib.aclosing(_frames(runtime, job, caller, since)) as frames:
        try:
            async for frame in frames:
                yield frame
        except NotFound:
            return  # the job was deleted meanwhile: the stream just ends


async def _frames(
    runtime: Runtime, job: Job, caller: Caller, since: str
) -> AsyncGenerator[str, None]:
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
    loop = asyncio.get_running_loop()
    async with runtime.events.subscribe(job.id, since=since) as inbox:
        # Read after subscribing: a job that ended before, and whose log is gone, still ends.
        job = await load_job(runtime, job.id, caller.account.id)
        if JobStatus(job.status).is_final:
            while not inbox.empty():
                yield _frame(inbox.get_nowait())
            yield await _result(runtime, job)
            return
        quiet_since = loop.time()
        while True:
            try:
                # Final statuses come as events; the database is asked only after a silence,
                # in case one was lost.
                async with asyncio.timeout(RECHECK_SECONDS):
                    event = await inbox.get()
            except TimeoutError:
                job = await load_job(runtime, job.id, caller.account.id)
                if JobStatus(job.status).is_final:
                    yield await _result(runtime, job)
                    return
                if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                    quiet_since = loop.time()
                    yield ": keep-alive\n\n"
                continue
            quiet_since = loop.time()
            yield _frame(event)
            if is_final_status_event(event):
                yield await _result(runtime, await load_job(runtime, job.id, caller.account.id))
                return


def _frame(event: Event) -> str:
    lines = [f"id: {event['id']}"] if "id" in event else []
    try:
        typed = parse_event(event)
    except ValidationError:
        # Of a kind this version does not know (a newer worker's): passed on as it came.
        log.warning("event of an unknown kind on job %s's stream", event.get("type"))
        data = {k: v for k, v in event.items() if k != "id"}
        kind = str(event.get("type", "message"))
    else:
        data, kind = typed.wire(), typed.type
    lines += [f"event: {kind}", f"data: {_json(data)}"]
    return "\n".join(lines) + "\n\n"


async def _result(runtime: Runtime, job: Job) -> str:
    # No id: a client that reconnects after the result resumes after the final status, and
    # gets the result again.
    body = (await job_out(runtime, job)).model_dump(mode="json")
    return f"event: {RESULT}\ndata: {_json(body)}\n\n"


def _json(value: Any) -> str:
    # One line: JSON escapes newlines inside strings, and SSE data lines must not contain any.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
