"""What a job leaves behind: its notebook as HTML, the bundle, artifacts; and deleting it all."""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from typing import Annotated

import nbformat
from fastapi import APIRouter, Depends, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from pyexec.api.auth import Caller, require_scope
from pyexec.api.bundles import build_bundle
from pyexec.api.deps import RuntimeDep
from pyexec.api.downloads import (
    HTML_PAGE_CSP,
    UNTRUSTED_HEADERS,
    content_disposition,
    download_name,
)
from pyexec.api.errors import Conflict, NotFound
from pyexec.api.job_reads import load_job
from pyexec.api.schemas import BINARY_CONTENT, ErrorBody, error_responses
from pyexec.core import repository
from pyexec.core.models import Job, JobStatus
from pyexec.core.runtime import Runtime
from pyexec.notebooks import notebook_to_html

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobsRead = Annotated[Caller, Depends(require_scope("jobs:read"))]
JobsWrite = Annotated[Caller, Depends(require_scope("jobs:write"))]

ERRORS = error_responses("No such job (or artifact) for this account", invalid=False)


async def _final_notebook(runtime: Runtime, job: Job) -> bytes:
    data = None
    if JobStatus(job.status).is_final:
        data = await runtime.storage.read_bytes(runtime.storage.notebook_path(job.id))
    if data is None:
        raise NotFound(
            f"Job {job.id} has no notebook yet: it is written when the job ends "
            f"(status now '{job.status}')."
        )
    return data


def _render_html(data: bytes) -> bytes:
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    return notebook_to_html(nb).encode("utf-8")


@router.get(
    "/{job_id}/notebook.html",
    responses={200: {"content": {"text/html": {}}, "description": "The page"}, **ERRORS},
    summary="The job's notebook as a standalone HTML page",
    description="nbconvert's HTML export (JupyterLab's look) with images embedded, "
    "sanitised, and served with a sandboxing Content-Security-Policy.",
)
async def get_notebook_html(job_id: str, caller: JobsRead, runtime: RuntimeDep) -> Response:
    job = await load_job(runtime, job_id, caller.account.id)
    storage = runtime.storage
    cached = storage.notebook_html_path(job.id)
    html = await storage.read_bytes(cached) if JobStatus(job.status).is_final else None
    if html is None:
        # Rendering takes a while (templates, highlighting); a final job's page never changes.
        html = await asyncio.to_thread(_render_html, await _final_notebook(runtime, job))
        await storage.write_bytes(cached, html)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": HTML_PAGE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": content_disposition(f"{download_name(job)}.html", "inline"),
        },
    )


@router.get(
    "/{job_id}/bundle",
    responses={200: {"content": {"application/zip": {}}, "description": "The zip"}, **ERRORS},
    summary="Download a zip that re-runs the job",
    description="The notebook, the input files beside it and every file the job wrote, in "
    "one folder: unzip, open the notebook in JupyterLab and choose Run All.",
)
async def get_bundle(job_id: str, caller: JobsRead, runtime: RuntimeDep) -> Response:
    job = await load_job(runtime, job_id, caller.account.id)
    path = await build_bundle(runtime, job, await _final_notebook(runtime, job))
    return FileResponse(
        path,
        media_type="application/zip",
        headers={"Content-Disposition": content_disposition(f"{download_name(job)}.zip")},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get(
    "/{job_id}/artifacts/{name:path}",
    response_class=Response,
    responses={200: BINARY_CONTENT, **ERRORS},
    summary="Download one artifact (a plot, a file the job wrote)",
)
async def get_artifact(job_id: str, name: str, caller: JobsRead, runtime: RuntimeDep) -> Response:
    job = await load_job(runtime, job_id, caller.account.id)
    # Only names the job lists are served, so no path a client makes up (`../x`) is opened.
    artifact = next((a for a in job.artifacts or [] if a.get("name") == name), None)
    if artifact is None:
        raise NotFound(f"Job {job_id} has no artifact named '{name}'.")
    try:
        path = runtime.storage.artifact_path(job.id, name)
    except ValueError:
        raise NotFound(f"Job {job_id} has no artifact named '{name}'.") from None
    if not path.is_file():
        raise NotFound(f"Artifact '{name}' of job {job_id} is no longer stored.")
    return FileResponse(
        path,
        media_type=artifact.get("media_type") or "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(PurePosixPath(name).name),
            **UNTRUSTED_HEADERS,
        },
    )


@router.delete(
    "/{job_id}",
    status_code=204,
    responses={
        **ERRORS,
        409: {"model": ErrorBody, "description": "The job has not ended; cancel it first"},
    },
    summary="Delete an ended job and everything stored for it",
)
async def delete_job(job_id: str, caller: JobsWrite, runtime: RuntimeDep) -> Response:
    job = await load_job(runtime, job_id, caller.account.id)
    if not JobStatus(job.status).is_final:
        raise Conflict(
            f"Job {job_id} is still {job.status}: cancel it (POST /v1/jobs/{job_id}/cancel), "
            "then delete it once it has ended."
        )
    async with runtime.db.session() as session:
        deleted = await repository.delete_job(session, job.id)
        await session.commit()
    if not deleted:
        raise NotFound(f"No such job: {job_id}")
    # Row first, then bytes: a failure in between leaves bytes nobody can reach, never a
    # job whose notebook is gone.
    await runtime.storage.delete_job(job.id)
    return Response(status_code=204)
