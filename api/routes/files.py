"""/v1/files: upload (streamed, hashed, size-limited), list, metadata, content, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from pyexec.api.auth import Caller, require_scope
from pyexec.api.deps import RuntimeDep
from pyexec.api.downloads import UNTRUSTED_HEADERS, content_disposition
from pyexec.api.errors import NotFound, PayloadTooLarge
from pyexec.api.pagination import next_cursor, parse_cursor
from pyexec.api.schemas import BINARY_CONTENT, ErrorBody, FileList, FileOut, error_responses
from pyexec.api.uploads import over_quota, receive_upload
from pyexec.core import repository
from pyexec.core.models import File, new_file_id
from pyexec.core.runtime import Runtime

router = APIRouter(prefix="/v1/files", tags=["files"])

FilesRead = Annotated[Caller, Depends(require_scope("files:read"))]
FilesWrite = Annotated[Caller, Depends(require_scope("files:write"))]

ERRORS = error_responses("No such file for this account")

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=FileOut,
    responses={
        **ERRORS,
        413: {
            "model": ErrorBody,
            "description": "Over the account's upload limit, or its storage quota",
        },
    },
    openapi_extra=UPLOAD_BODY,
    summary="Upload a file",
    description="Multipart field `file`. The filename is sanitised (no directories, no "
    "control characters, no leading dots); the media type is detected from the content "
    "and the name. Over the upload limit, or over the plan's storage quota (files, "
    "artifacts and notebooks in all): `413` naming which, and nothing is kept.",
)
async def upload_file(request: Request, caller: FilesWrite, runtime: RuntimeDep) -> JSONResponse:
    quota = caller.limits.max_storage_bytes
    async with runtime.db.session() as session:
        left = quota - await repository.storage_used(session, caller.account.id)
    # The smaller of the two limits applies while the body streams; the quota is checked
    # again, atomically, when the file is counted in.
    limit = min(caller.limits.max_upload_bytes, max(left, 0))
    try:
        received = await receive_upload(request, runtime.storage, limit)
    except PayloadTooLarge:
        if limit < caller.limits.max_upload_bytes:
            raise over_quota(quota) from None
        raise
    incoming = received.incoming
    file = File(
        id=new_file_id(),
        account_id=caller.account.id,
        filename=received.filename,
        bytes=incoming.bytes,
        media_type=received.media_type,
        sha256=incoming.sha256,
    )
    try:
        # Bytes first, then the row: a crash in between leaves an unreferenced file, never
        # a row whose bytes are missing.
        await incoming.commit(file.id)
        async with runtime.db.session() as session:
            if not await repository.reserve_storage(session, caller.account.id, file.bytes, quota):
                raise over_quota(quota)
            await repository.add_file(session, file)
            await session.commit()
    except BaseException:
        await incoming.discard()
        await runtime.storage.delete_file(file.id)
        raise
    return JSONResponse(
        FileOut.from_file(file).model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/v1/files/{file.id}"},
    )


@router.get("", response_model=FileList, responses=ERRORS, summary="List files, newest first")
async def list_files(
    caller: FilesRead,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> FileList:
    after = parse_cursor(cursor)
    async with runtime.db.session() as session:
        files = await repository.list_files(
            session, caller.account.id, limit=limit + 1, after=after
        )
    return FileList(
        data=[FileOut.from_file(f) for f in files[:limit]], next_cursor=next_cursor(files, limit)
    )


async def load_file(runtime: Runtime, file_id: str, account_id: str) -> File:
    async with runtime.db.session() as session:
        file = await repository.get_file(session, file_id, account_id)
    if file is None:
        raise NotFound(f"No such file: {file_id}")
    return file


@router.get("/{file_id}", response_model=FileOut, responses=ERRORS, summary="Get a file's metadata")
async def get_file(file_id: str, caller: FilesRead, runtime: RuntimeDep) -> FileOut:
    return FileOut.from_file(await load_file(runtime, file_id, caller.account.id))


@router.get(
    "/{file_id}/content",
    response_class=Response,
    responses={200: BINARY_CONTENT, **ERRORS},
    summary="Download a file's bytes",
)
async def get_file_content(file_id: str, caller: FilesRead, runtime: RuntimeDep) -> Response:
    file = await load_file(runtime, file_id, caller.account.id)
    path = runtime.storage.file_path(file.id)
    if not path.is_file():
        raise NotFound(f"File {file_id} has no stored content.")
    return FileResponse(
        path,
        media_type=file.media_type,
        headers={
            "Content-Disposition": content_disposition(file.filename),
            **UNTRUSTED_HEADERS,
        },
    )


@router.delete(
    "/{file_id}",
    status_code=204,
    responses=ERRORS,
    summary="Delete a file and its stored bytes",
)
async def delete_file(file_id: str, caller: FilesWrite, runtime: RuntimeDep) -> Response:
    async with runtime.db.session() as session:
        deleted = await repository.delete_file(session, file_id, caller.account.id)
        await session.commit()
    if not deleted:
        raise NotFound(f"No such file: {file_id}")
    await runtime.storage.delete_file(file_id)
    return Response(status_code=204)
