"""The API keys page (the "dashboard settings" of the docs): create (shown once), list, revoke.

A session has every scope of its account, so it may grant any scope to a new key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from pyexec.api.dashboard.security import apply_page_headers
from pyexec.api.dashboard.sessions import CurrentVisitor, Visitor, session_form
from pyexec.api.dashboard.templating import DashboardRoute, page
from pyexec.api.deps import RuntimeDep
from pyexec.api.errors import NotFound
from pyexec.core import repository
from pyexec.core.accounts import issue_api_key
from pyexec.core.models import ALL_SCOPES, ApiKey
from pyexec.core.runtime import Runtime

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

MAX_NAME_CHARS = 100
NOTICES = {"revoked": "The key was revoked: requests with it now get 401."}
SCOPE_HELP = {
    "jobs:read": "read jobs, their events, notebooks and artifacts",
    "jobs:write": "submit, cancel and delete jobs",
    "files:read": "list and download files",
    "files:write": "upload and delete files",
    "keys:manage": "create, list and revoke API keys",
}


async def _keys(runtime: Runtime, visitor: Visitor) -> list[ApiKey]:
    async with runtime.db.session() as session:
        return await repository.list_api_keys(session, visitor.account.id)


def _context(keys: list[ApiKey], **extra: object) -> dict[str, object]:
    return {
        "nav": "keys",
        "keys": keys,
        "scopes": ALL_SCOPES,
        "scope_help": SCOPE_HELP,
        "name": "",
        "chosen": list(ALL_SCOPES),
        "created": None,
        "plaintext": None,
        "error": None,
        "notice": None,
        **extra,
    }


@router.get("/keys")
async def keys_page(
    request: Request,
    visitor: CurrentVisitor,
    runtime: RuntimeDep,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    keys = await _keys(runtime, visitor)
    return page(request, "keys.html", _context(keys, notice=NOTICES.get(notice or "")))


@router.post("/keys")
async def create_key(request: Request, visitor: CurrentVisitor, runtime: RuntimeDep) -> Response:
    form = await session_form(request, visitor, runtime)
    raw_name = form.get("name")
    name = raw_name.strip() if isinstance(raw_name, str) else ""
    chosen = [s for s in form.getlist("scopes") if isinstance(s, str)]
    template = "_key_created.html" if request.headers.get("hx-request") else "keys.html"
    error = None
    if not name:
        error = "Give the key a name, e.g. the machine or script that will use it."
    elif len(name) > MAX_NAME_CHARS:
        error = f"The name must have at most {MAX_NAME_CHARS} characters."
    elif not chosen:
        error = "Choose at least one scope."
    elif unknown := [s for s in chosen if s not in ALL_SCOPES]:
        error = f"Unknown scope(s): {', '.join(unknown)}."
    if error is not None:
        keys = await _keys(runtime, visitor)
        context = _context(keys, name=name, chosen=chosen, error=error)
        return page(request, template, context, status_code=400)
    async with runtime.db.session() as session:
        key, plaintext = await issue_api_key(session, visitor.account, name=name, scopes=chosen)
        await session.commit()
    keys = await _keys(runtime, visitor)
    # Shown this once: the response is never stored (no-store) and the key is never kept.
    return page(
        request, template, _context(keys, created=key, plaintext=plaintext), status_code=201
    )


@router.post("/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, key_id: str, visitor: CurrentVisitor, runtime: RuntimeDep
) -> Response:
    await session_form(request, visitor, runtime)
    async with runtime.db.session() as session:
        revoked = await repository.revoke_api_key(
            session, key_id, runtime.clock.now(), account_id=visitor.account.id
        )
        await session.commit()
    if not revoked:
        raise NotFound(f"No such API key: {key_id}")
    return apply_page_headers(RedirectResponse("/keys?notice=revoked", status_code=303))
