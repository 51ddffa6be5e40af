"""The jobs pages: the list (filtered, searched, paginated, live), a job, a new job, actions
on a job (cancel, delete, follow up) and its downloads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import nbformat
from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from pyexec.api.dashboard.outputs import CellView, OutputView, job_output_view, notebook_cells
from pyexec.api.dashboard.security import apply_page_headers
from pyexec.api.dashboard.sessions import CurrentVisitor, Visitor, session_form
from pyexec.api.dashboard.templating import DashboardRoute, page, templates
from pyexec.api.deps import RuntimeDep
from pyexec.api.errors import ApiError, InvalidRequest
from pyexec.api.job_actions import delete_ended_job, request_cancel
from pyexec.api.job_reads import load_job
from pyexec.api.pagination import next_cursor, parse_cursor
from pyexec.api.routes.job_files import artifact_response, bundle_response, notebook_html_response
from pyexec.api.routes.jobs import notebook_response
from pyexec.api.schemas import JobCreate
from pyexec.api.submission import new_job, start_job
from pyexec.core import metrics, repository
from pyexec.core.models import File, Job, JobStatus
from pyexec.core.runtime import Runtime

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZE = 25
STATUSES = [s.value for s in JobStatus]
# Files offered on the new-job form (the newest first); older ones are on the files page.
FILES_OFFERED = 100
NOTICES = {
    "deleted": "The job was deleted.",
    "cancel-requested": "Cancelling the job…",
}


def _redirect(location: str) -> Response:
    return apply_page_headers(RedirectResponse(location, status_code=303))


@router.get("/")
async def home(visitor: CurrentVisitor) -> Response:
    return _redirect("/jobs")


# ---- the list ----------------------------------------------------------------------------


@router.get("/jobs")
async def jobs_page(
    request: Request,
    visitor: CurrentVisitor,
    runtime: RuntimeDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    status = status or None
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"Unknown status '{status}'; choose one of {', '.join(STATUSES)}.")
    search = (q or "").strip() or None
    after = parse_cursor(cursor)
    async with runtime.db.session() as session:
        jobs = await repository.list_jobs(
            session,
            visitor.account.id,
            limit=PAGE_SIZE + 1,
            after=after,
            status=status,
            title_contains=search,
        )
    context = {
        "nav": "jobs",
        "jobs": jobs[:PAGE_SIZE],
        "next_cursor": next_cursor(jobs, PAGE_SIZE),
        "first_page": cursor is None,
        "status": status or "",
        "q": search or "",
        "statuses": STATUSES,
        "notice": NOTICES.get(notice or ""),
    }
    if request.headers.get("hx-target") == "job-list":
        return page(request, "_job_list.html", context)
    return page(request, "jobs.html", context)


@router.get("/jobs/rows")
async def job_rows(
    request: Request,
    visitor: CurrentVisitor,
    runtime: RuntimeDep,
    ids: Annotated[list[str], Query(max_length=PAGE_SIZE)],
) -> Response:
    """The list's unfinished jobs, polled together (one request however many there are): each
    row comes back as an out-of-band swap, with a poller for those still unfinished."""
    async with runtime.db.session() as session:
        found = [await repository.get_job(session, job_id, visitor.account.id) for job_id in ids]
    jobs = [job for job in found if job is not None]
    return page(request, "_job_rows_update.html", {"jobs": jobs})


# ---- a new job ---------------------------------------------------------------------------


@dataclass
class JobForm:
    """What the new-job form holds, kept as typed so a failed submission loses nothing."""

    title: str = ""
    prompt: str = ""
    code: str = ""
    priority: str = "5"
    timeout_seconds: str = ""
    file_ids: tuple[str, ...] = ()
    parent_job_id: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> JobForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        return cls(
            title=text("title"),
            prompt=text("prompt"),
            code=text("code"),
            priority=text("priority").strip() or "5",
            timeout_seconds=text("timeout_seconds").strip(),
            file_ids=tuple(v for v in form.getlist("file_ids") if isinstance(v, str) and v),
            parent_job_id=text("parent_job_id").strip(),
        )

    def body(self) -> JobCreate:
        """The API's submission; pydantic's ValidationError names each bad field."""
        # Not strict, unlike a JSON body: a form's numbers arrive as text.
        return JobCreate.model_validate(
            {
                "title": self.title.strip() or None,
                "prompt": self.prompt if self.prompt.strip() else None,
                "code": self.code if self.code.strip() else None,
                "priority": self.priority,
                "timeout_seconds": self.timeout_seconds or None,
                "file_ids": list(self.file_ids),
                "parent_job_id": self.parent_job_id or None,
            },
            strict=False,
        )


FIELD_LABELS = {
    "prompt": "Prompt",
    "code": "Code",
    "title": "Title",
    "priority": "Priority",
    "timeout_seconds": "Timeout",
    "file_ids": "Files",
    "parent_job_id": "Follow-up",
}


async def _new_job_page(
    request: Request,
    visitor: Visitor,
    runtime: Runtime,
    form: JobForm,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with runtime.db.session() as session:
        files = await repository.list_files(session, visitor.account.id, limit=FILES_OFFERED)
        parent = (
            await repository.get_job(session, form.parent_job_id, visitor.account.id)
            if form.parent_job_id
            else None
        )
    return page(
        request,
        "new_job.html",
        {
            "nav": "new",
            "form": form,
            "errors": errors or {},
            "files": files,
            "parent": parent,
            "limits": visitor.limits,
            "default_timeout": min(
                runtime.settings.job_default_timeout, visitor.limits.max_job_timeout
            ),
        },
        status_code=status_code,
    )


@router.get("/jobs/new")
async def new_job_page(
    request: Request,
    visitor: CurrentVisitor,
    runtime: RuntimeDep,
    file: Annotated[list[str] | None, Query(max_length=100)] = None,
) -> Response:
    return await _new_job_page(request, visitor, runtime, JobForm(file_ids=tuple(file or ())))


@router.post("/jobs/new")
async def submit_job(request: Request, visitor: CurrentVisitor, runtime: RuntimeDep) -> Response:
    form = JobForm.from_form(await session_form(request, visitor, runtime))
    try:
        body = form.body()
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "prompt"
            errors.setdefault(field, err["msg"].removeprefix("Value error, "))
        return await _new_job_page(request, visitor, runtime, form, errors, 400)
    try:
        job = await new_job(runtime, body, visitor.account.id, visitor.limits)
    except ApiError as exc:
        field = (exc.details or [{}])[0].get("field", "") if exc.details else ""
        if not field and "parent_job_id" in exc.message:
            field = "parent_job_id"
        key = field if field in FIELD_LABELS else "form"
        return await _new_job_page(request, visitor, runtime, form, {key: exc.message}, exc.status)
    async with runtime.db.session() as session:
        await repository.add_job(session, job)
        await session.commit()
    await start_job(runtime, job, visitor.limits.plan)
    metrics.job_created(visitor.limits.plan)
    return _redirect(f"/jobs/{job.id}")


# ---- a job -------------------------------------------------------------------------------


@dataclass
class JobView:
    """Everything a job's page (or the live stream's last update) shows of it."""

    job: Job
    outputs: list[OutputView]
    cells: list[CellView]
    inputs: list[File]
    missing_inputs: list[str]
    parent: Job | None
    notebook_ready: bool

    @property
    def final(self) -> bool:
        return JobStatus(self.job.status).is_final

    @property
    def figures(self) -> list[dict[str, Any]]:
        return [a for a in self.job.artifacts or [] if a.get("kind") != "file"]

    @property
    def written_files(self) -> list[dict[str, Any]]:
        return [a for a in self.job.artifacts or [] if a.get("kind") == "file"]


def _notebook_cells(data: bytes) -> list[CellView]:
    return notebook_cells(nbformat.reads(data.decode("utf-8"), as_version=4))


async def job_view(runtime: Runtime, job: Job) -> JobView:
    cells: list[CellView] = []
    notebook = None
    if JobStatus(job.status).is_final:
        notebook = await runtime.storage.read_bytes(runtime.storage.notebook_path(job.id))
        if notebook is not None:
            cells = await asyncio.to_thread(_notebook_cells, notebook)
    async with runtime.db.session() as session:
        files = await repository.get_files(session, job.file_ids or [], job.account_id)
        parent = (
            await repository.get_job(session, job.parent_job_id, job.account_id)
            if job.parent_job_id
            else None
        )
    return JobView(
        job=job,
        outputs=[job_output_view(job.id, o) for o in job.outputs or []],
        cells=cells,
        inputs=[files[f] for f in job.file_ids or [] if f in files],
        missing_inputs=[f for f in job.file_ids or [] if f not in files],
        parent=parent,
        notebook_ready=notebook is not None,
    )


def render_job_body(request: Request, view: JobView, visitor: Visitor) -> str:
    """The job's changing part as HTML (what the live stream swaps in when the job ends)."""
    return templates.get_template("_job_body.html").render(
        request=request, view=view, job=view.job, visitor=visitor, csrf_token=visitor.csrf_token
    )


@router.get("/jobs/{job_id}")
async def job_page(
    request: Request,
    job_id: str,
    visitor: CurrentVisitor,
    runtime: RuntimeDep,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    job = await load_job(runtime, job_id, visitor.account.id)
    view = await job_view(runtime, job)
    return page(
        request,
        "job.html",
        {"nav": "jobs", "view": view, "job": job, "notice": NOTICES.get(notice or "")},
    )


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(
    request: Request, job_id: str, visitor: CurrentVisitor, runtime: RuntimeDep
) -> Response:
    await session_form(request, visitor, runtime)
    job = await load_job(runtime, job_id, visitor.account.id)
    if JobStatus(job.status).is_final:
        return _redirect(f"/jobs/{job.id}")  # it ended first: the page says how
    await request_cancel(runtime, job)
    return _redirect(f"/jobs/{job.id}?notice=cancel-requested")


@router.post("/jobs/{job_id}/delete")
async def delete_job(
    request: Request, job_id: str, visitor: CurrentVisitor, runtime: RuntimeDep
) -> Response:
    await session_form(request, visitor, runtime)
    job = await load_job(runtime, job_id, visitor.account.id)
    await delete_ended_job(runtime, job)
    return _redirect("/jobs?notice=deleted")


# ---- downloads (the API's responses, with a session instead of a key) --------------------


@router.get("/jobs/{job_id}/notebook")
async def download_notebook(job_id: str, visitor: CurrentVisitor, runtime: RuntimeDep) -> Response:
    return await notebook_response(runtime, await load_job(runtime, job_id, visitor.account.id))


@router.get("/jobs/{job_id}/notebook.html")
async def notebook_page(job_id: str, visitor: CurrentVisitor, runtime: RuntimeDep) -> Response:
    return await notebook_html_response(
        runtime, await load_job(runtime, job_id, visitor.account.id)
    )


@router.get("/jobs/{job_id}/bundle")
async def download_bundle(job_id: str, visitor: CurrentVisitor, runtime: RuntimeDep) -> Response:
    return await bundle_response(runtime, await load_job(runtime, job_id, visitor.account.id))


@router.get("/jobs/{job_id}/artifacts/{name:path}")
async def download_artifact(
    job_id: str, name: str, visitor: CurrentVisitor, runtime: RuntimeDep
) -> Response:
    job = await load_job(runtime, job_id, visitor.account.id)
    return artifact_response(runtime, job, name)
