"""/v1/webhook-secret: the account's webhook signing secret (made on first use), and its
rotation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_serializer

from pyexec.api.auth import Caller, require_scope
from pyexec.api.deps import RuntimeDep
from pyexec.api.schemas import as_utc, error_responses
from pyexec.core import repository
from pyexec.core.models import WebhookSecret

router = APIRouter(prefix="/v1/webhook-secret", tags=["webhooks"])

# The secret proves that a delivery comes from PyExec: a credential, managed like keys.
KeysManage = Annotated[Caller, Depends(require_scope("keys:manage"))]

ERRORS = error_responses(forbidden="The key lacks the 'keys:manage' scope", invalid=False)


class WebhookSecretOut(BaseModel):
    secret: str = Field(
        description="HMAC-SHA256 key of the `PyExec-Signature` header of every delivery.",
        examples=["whsec_..."],
    )
    created_at: datetime

    @field_serializer("created_at")
    def _iso(self, value: datetime) -> str:
        return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @classmethod
    def of(cls, stored: WebhookSecret) -> WebhookSecretOut:
        return cls(secret=stored.secret, created_at=stored.created_at)


@router.get(
    "",
    response_model=WebhookSecretOut,
    responses=ERRORS,
    summary="The account's webhook signing secret",
    description="Made on first use. Verify a delivery with it: `PyExec-Signature: "
    't=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.',
)
async def get_webhook_secret(caller: KeysManage, runtime: RuntimeDep) -> WebhookSecretOut:
    async with runtime.db.session() as session:
        stored = await repository.webhook_secret(session, caller.account.id)
        await session.commit()
    return WebhookSecretOut.of(stored)


@router.post(
    "/rotate",
    response_model=WebhookSecretOut,
    responses=ERRORS,
    summary="Replace the account's webhook signing secret",
    description="Deliveries from now on, retries included, are signed with the new secret; "
    "the old one stops verifying at once.",
)
async def rotate_webhook_secret(caller: KeysManage, runtime: RuntimeDep) -> WebhookSecretOut:
    async with runtime.db.session() as session:
        stored = await repository.rotate_webhook_secret(session, caller.account.id)
        await session.commit()
    return WebhookSecretOut.of(stored)
