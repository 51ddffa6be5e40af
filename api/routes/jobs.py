"""/v1/jobs: submit, read, list, wait, cancel, download the notebook."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse

from pyexec.api.auth import Caller, require_scope
from pyexec.api.deps import HoldsDep, RuntimeDep
from pyexec.api.downloads import download_name
from pyexec.api.errors import Conflict, NotFound
from pyexec.api.idempotency import create_once, earlier_job, fingerprint
from pyexec.api.job_actions import request_cancel
from pyexec.api.job_reads import hold_until_final, load_and_listen, load_job, wait_for_final
from pyexec.api.pagination import next_cursor, parse_cursor
from pyexec.api.schemas import ErrorBody, JobCreate, JobList, JobOut, JobStatusName, error_responses
from pyexec.api.submission import check_submission, new_job, start_job
from pyexec.core import metrics, repository
from pyexec.core.models import Job, JobStatus
from pyexec.core.runtime import Runtime

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobsRead = Annotated[Caller, Depends(require_scope("jobs:read"))]
JobsWrite = Annotated[Caller, Depends(require_scope("jobs:write"))]

ERRORS = error_responses("No such job for this account")
CANCEL_SETTLE_SECONDS = 5.0


async def job_out(runtime: Runtime, job: Job) -> JobOut:
    return (await job_outs(runtime, [job]))[0]


async def job_outs(runtime: Runtime, jobs: list[Job]) -> list[JobOut]:
    """The job objects, with the webhook deliveries of those that have one (one query)."""
    hooked = [job.id for job in jobs if job.webhook_url is not None]
    deliveries = {}
    if hooked:
        async with runtime.db.session() as session:
            deliveries = await repository.webhook_deliveries(session, hooked)
    return [JobOut.of(job, deliveries.get(job.id)) for job in jobs]


@router.post(
    "",
    status_code=201,
    response_model=JobOut,
    responses={
        200: {"model": JobOut, "description": "The job an earlier request with this key made"},
        **ERRORS,
        403: {"model": ErrorBody, "description": "The key lacks the scope, or the plan's cap"},
        409: {
            "model": ErrorBody,
            "description": "Idempotency-Key used with a different body, or the parent job "
            "(parent_job_id) has not ended",
        },
    },
    summary="Submit a job",
)
async def create_job(
    body: JobCreate,
    caller: JobsWrite,
    runtime: RuntimeDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Retrying with the same key and body within 24 h returns the first "
            "job (200); with another body, 409.",
        ),
    ] = None,
) -> JSONResponse:
    check_submission(body, runtime)
    request_hash = ""
    if idempotency_key is not None:
        # The whole body counts, parent_job_id included: a follow-up of another parent is
        # another job.
        request_hash = fingerprint(body)
        earlier = await earlier_job(runtime, caller.account.id, idempotency_key, request_hash)
        if earlier is not None:
            return await _created(runtime, earlier, 200)
    job = await new_job(runtime, body, caller.account.id, caller.limits)
    if idempotency_key is not None:
        job, created = await create_once(runtime, job, idempotency_key, request_hash)
        if not created:
            return await _created(runtime, job, 200)
    else:
        async with runtime.db.session() as session:
            await repository.add_job(session, job)
            await session.commit()
    await start_job(runtime, job, caller.limits.plan)
    metrics.job_created(caller.limits.plan)
    return await _created(runtime, job, 201)


async def _created(runtime: Runtime, job: Job, status_code: int) -> JSONResponse:
    return JSONResponse(
        (await job_out(runtime, job)).model_dump(mode="json"),
        status_code=status_code,
        headers={"Location": f"/v1/jobs/{job.id}"},
    )


@router.get("", response_model=JobList, responses=ERRORS, summary="List jobs, newest first")
async def list_jobs(
    caller: JobsRead,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    status: Annotated[JobStatusName | None, Query()] = None,
) -> JobList:
    after = parse_cursor(cursor)
    async with runtime.db.session() as session:
        jobs = await repository.list_jobs(
            session, caller.account.id, limit=limit + 1, after=after, status=status
        )
    return JobList(
        data=await job_outs(runtime, jobs[:limit]), next_cursor=next_cursor(jobs, limit)
    )


@router.get("/{job_id}", response_model=JobOut, responses=ERRORS, summary="Get a job")
async def get_job(
    job_id: str,
    caller: JobsRead,
    runtime: RuntimeDep,
    holds: HoldsDep,
    wait: Annotated[
        float, Query(ge=0, le=60, description="Hold up to this many seconds for a final status.")
    ] = 0,
) -> JobOut:
    if wait <= 0:
        return await job_out(runtime, await load_job(runtime, job_id, caller.account.id))
    # Listening before the one read: a job that ends in between is not missed.
    async with load_and_listen(runtime, job_id, caller.account.id) as (job, inbox):
        if not JobStatus(job.status).is_final:
            limit = runtime.settings.max_open_waits_per_account
            with holds.hold("wait", caller.account.id, limit):
                job = await hold_until_final(runtime, job, inbox, wait)
    return await job_out(runtime, job)


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    responses={**ERRORS, 409: {"model": ErrorBody, "description": "The job already ended"}},
    summary="Cancel a job",
)
async def cancel_job(job_id: str, caller: JobsWrite, runtime: RuntimeDep) -> JobOut:
    job = await load_job(runtime, job_id, caller.account.id)
    if JobStatus(job.status).is_final:
        raise Conflict(f"Job {job_id} already ended with status '{job.status}'.")
    await request_cancel(runtime, job)
    job = await wait_for_final(runtime, job, CANCEL_SETTLE_SECONDS)
    return await job_out(runtime, job)


@router.get(
    "/{job_id}/notebook",
    responses={
        200: {"content": {"application/x-ipynb+json": {}}, "description": "The notebook"},
        **ERRORS,
    },
    summary="Download the job's notebook",
)
async def get_notebook(job_id: str, caller: JobsRead, runtime: RuntimeDep) -> Response:
    return await notebook_response(runtime, await load_job(runtime, job_id, caller.account.id))


async def notebook_response(runtime: Runtime, job: Job) -> Response:
    data = await runtime.storage.read_bytes(runtime.storage.notebook_path(job.id))
    if data is None:
        raise NotFound(
            f"Job {job.id} has no notebook yet: it is written when the job ends "
            f"(status now '{job.status}')."
        )
    return Response(
        data,
        media_type="application/x-ipynb+json",
        headers={"Content-Disposition": f'attachment; filename="{download_name(job)}.ipynb"'},
    )
