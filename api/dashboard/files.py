"""The files page: uploaded files with size and date; upload, download, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from pyexec.api.dashboard.security import CSRF_FIELD, apply_page_headers
from pyexec.api.dashboard.sessions import CurrentVisitor, check_csrf, session_form
from pyexec.api.dashboard.templating import DashboardRoute, page
from pyexec.api.deps import RuntimeDep
from pyexec.api.errors import NotFound
from pyexec.api.pagination import next_cursor, parse_cursor
from pyexec.api.routes.files import file_content_response, load_file
from pyexec.api.uploads import store_upload
from pyexec.core import repository

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZE = 50
NOTICES = {"deleted": "The file was deleted.", "uploaded": "The file was uploaded."}


def _redirect(location: str) -> Response:
    return apply_page_headers(RedirectResponse(location, status_code=303))


@router.get("/files")
async def files_page(
    request: Request,
    visitor: CurrentVisitor,
    runtime: RuntimeDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    after = parse_cursor(cursor)
    async with runtime.db.session() as session:
        files = await repository.list_files(
            session, visitor.account.id, limit=PAGE_SIZE + 1, after=after
        )
        stored = await repository.storage_used(session, visitor.account.id)
    return page(
        request,
        "files.html",
        {
            "nav": "files",
            "files": files[:PAGE_SIZE],
            "next_cursor": next_cursor(files, PAGE_SIZE),
            "first_page": cursor is None,
            "limits": visitor.limits,
            "stored": stored,
            "notice": NOTICES.get(notice or ""),
        },
    )


@router.post("/files")
async def upload(
    request: Request,
    visitor: CurrentVisitor,
    runtime: RuntimeDep,
    target: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """A multipart upload, streamed to storage like `POST /v1/files` (413 past the plan's
    limit). The token comes in the X-CSRF-Token header (htmx) or the query (a plain form:
    the body is streamed, not parsed, so it cannot carry it)."""
    await check_csrf(request, runtime, visitor.csrf_token, request.query_params.get(CSRF_FIELD))
    file = await store_upload(request, runtime, visitor.account.id, visitor.limits)
    if target != "job":
        if request.headers.get("hx-request"):
            return apply_page_headers(Response(headers={"HX-Redirect": "/files?notice=uploaded"}))
        return _redirect("/files?notice=uploaded")
    # The new-job form: the file joins its choices, chosen.
    return page(request, "_file_choice.html", {"file": file}, status_code=201)


@router.get("/files/{file_id}/content")
async def download(file_id: str, visitor: CurrentVisitor, runtime: RuntimeDep) -> Response:
    return file_content_response(runtime, await load_file(runtime, file_id, visitor.account.id))


@router.post("/files/{file_id}/delete")
async def delete(
    request: Request, file_id: str, visitor: CurrentVisitor, runtime: RuntimeDep
) -> Response:
    await session_form(request, visitor, runtime)
    async with runtime.db.session() as session:
        deleted = await repository.delete_file(session, file_id, visitor.account.id)
        await session.commit()
    if not deleted:
        raise NotFound(f"No such file: {file_id}")
    await runtime.storage.delete_file(file_id)
    return _redirect("/files?notice=deleted")
