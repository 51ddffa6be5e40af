"""/v1/account: the calling key's account, its plan's limits and where it stands today."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from pyexec.api.deps import CurrentCaller, RuntimeDep
from pyexec.api.schemas import as_utc, error_responses
from pyexec.core import repository
from pyexec.core.ratelimit import Quota

router = APIRouter(prefix="/v1/account", tags=["account"])


class PlanLimitsOut(BaseModel):
    requests_per_day: int | None = Field(description="Counted per UTC day; null: unlimited.")
    max_running_jobs: int
    max_job_timeout_seconds: int
    max_upload_bytes: int = Field(description="One file.")
    max_storage_bytes: int = Field(description="Files, artifacts and notebooks in all.")


class AccountUsage(BaseModel):
    requests_today: int | None = Field(description="null on an unlimited plan (not counted).")
    requests_reset_at: datetime | None
    storage_bytes: int = Field(description="Files, artifacts and notebooks stored now.")


class AccountOut(BaseModel):
    id: str
    email: str
    plan: str
    limits: PlanLimitsOut
    usage: AccountUsage


@router.get(
    "",
    response_model=AccountOut,
    responses=error_responses(invalid=False),
    summary="The account of the calling key: plan, limits and usage",
    description="Any valid key may read it. This request is counted in `requests_today`.",
)
async def get_account(request: Request, caller: CurrentCaller, runtime: RuntimeDep) -> AccountOut:
    async with runtime.db.session() as session:
        stored = await repository.storage_used(session, caller.account.id)
    limits = caller.limits
    quota: Quota | None = getattr(request.state, "quota", None)
    return AccountOut(
        id=caller.account.id,
        email=caller.account.email,
        plan=str(limits.plan),
        limits=PlanLimitsOut(
            requests_per_day=limits.requests_per_day,
            max_running_jobs=limits.max_running_jobs,
            max_job_timeout_seconds=limits.max_job_timeout,
            max_upload_bytes=limits.max_upload_bytes,
            max_storage_bytes=limits.max_storage_bytes,
        ),
        usage=AccountUsage(
            requests_today=quota.limit - quota.remaining if quota is not None else None,
            requests_reset_at=as_utc(quota.resets_at) if quota is not None else None,
            storage_bytes=stored,
        ),
    )
