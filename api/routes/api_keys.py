"""/v1/api-keys: a client manages its own account's keys (create shows the key this once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from pyexec.api.auth import Caller, require_scope
from pyexec.api.deps import RuntimeDep
from pyexec.api.errors import Forbidden, NotFound
from pyexec.api.schemas import ErrorBody, as_utc, error_responses
from pyexec.core import repository
from pyexec.core.accounts import issue_api_key
from pyexec.core.models import ALL_SCOPES, ApiKey

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])

KeysManage = Annotated[Caller, Depends(require_scope("keys:manage"))]
Scope = Literal["jobs:read", "jobs:write", "files:read", "files:write", "keys:manage"]

ERRORS = error_responses(forbidden="The key lacks the 'keys:manage' scope")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"\S", examples=["ci"])
    scopes: list[Scope] = Field(
        default_factory=lambda: list(get_args(Scope)),
        min_length=1,
        max_length=len(ALL_SCOPES),
        description="Default: all scopes. Only scopes the calling key has can be given.",
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The first 8 characters after `pyex_`, for recognising it.")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None

    @field_serializer("created_at", "last_used_at")
    def _iso(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @classmethod
    def from_key(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            scopes=list(key.scopes or []),  # type: ignore[arg-type]
            created_at=key.created_at,
            last_used_at=key.last_used_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key itself. Shown this once: it is not stored.")


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=ERRORS,
    summary="Create an API key (the key is shown this once)",
)
async def create_api_key(
    body: ApiKeyCreate, caller: KeysManage, runtime: RuntimeDep
) -> ApiKeyCreated:
    # A key cannot mint a key stronger than itself.
    missing = [s for s in body.scopes if not caller.has_scope(s)]
    if missing:
        raise Forbidden(
            f"This API key cannot grant scopes it does not have: {', '.join(missing)}.",
            details=[{"field": "scopes", "problem": f"not held by this key: {s}"} for s in missing],
        )
    async with runtime.db.session() as session:
        key, plaintext = await issue_api_key(
            session, caller.account, name=body.name.strip(), scopes=body.scopes
        )
        await session.commit()
    return ApiKeyCreated(**ApiKeyOut.from_key(key).model_dump(), key=plaintext)


@router.get("", response_model=ApiKeyList, responses=ERRORS, summary="List this account's keys")
async def list_api_keys(caller: KeysManage, runtime: RuntimeDep) -> ApiKeyList:
    async with runtime.db.session() as session:
        keys = await repository.list_api_keys(session, caller.account.id)
    return ApiKeyList(data=[ApiKeyOut.from_key(k) for k in keys])


@router.delete(
    "/{key_id}",
    status_code=204,
    responses={**ERRORS, 404: {"model": ErrorBody, "description": "No such key for this account"}},
    summary="Revoke an API key: it fails with 401 from the next request on",
    description="A key may revoke only keys whose scopes it has itself (itself included).",
)
async def revoke_api_key(key_id: str, caller: KeysManage, runtime: RuntimeDep) -> Response:
    async with runtime.db.session() as session:
        keys = await repository.list_api_keys(session, caller.account.id)
        target = next((k for k in keys if k.id == key_id), None)
        if target is None:
            raise NotFound(f"No such API key: {key_id}")
        # Like creating one: a key cannot revoke a key stronger than itself.
        stronger = [s for s in target.scopes or [] if not caller.has_scope(s)]
        if stronger:
            raise Forbidden(
                f"This API key cannot revoke a key with scopes it does not have: "
                f"{', '.join(stronger)}.",
                details=[{"field": "key_id", "problem": f"the key has {s}"} for s in stronger],
            )
        revoked = await repository.revoke_api_key(
            session, key_id, runtime.clock.now(), account_id=caller.account.id
        )
        await session.commit()
    if not revoked:
        raise NotFound(f"No such API key: {key_id}")
    return Response(status_code=204)
