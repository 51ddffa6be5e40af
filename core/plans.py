"""The plan table: what each plan allows. Defaults here, overridden by `PYEXEC_PLANS`.

`max_running_jobs` is held by the worker: `worker.inprocess` (embedded) and
`worker.admission` (across the workers of the scaled deployment).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pyexec.core.models import Plan
from pyexec.core.settings import Settings

MB = 1_000_000


@dataclass(frozen=True)
class PlanLimits:
    plan: Plan
    requests_per_day: int | None  # None: unlimited, and no X-RateLimit-* headers
    max_running_jobs: int
    max_job_timeout: int  # seconds
    max_upload_bytes: int
    # Files, artifacts and notebooks stored in all; uploads and artifacts past it are refused.
    max_storage_bytes: int

    @property
    def unlimited(self) -> bool:
        return self.requests_per_day is None


DEFAULT_PLANS: dict[Plan, PlanLimits] = {
    Plan.free: PlanLimits(Plan.free, 100, 1, 60, 10 * MB, 500 * MB),
    Plan.pro: PlanLimits(Plan.pro, 10_000, 5, 600, 200 * MB, 20_000 * MB),
    Plan.business: PlanLimits(Plan.business, None, 20, 3_600, 2_000 * MB, 200_000 * MB),
}


def plan_limits(settings: Settings, plan: Plan | str) -> PlanLimits:
    plan = Plan(plan)
    limits = DEFAULT_PLANS[plan]
    override = settings.plans.get(plan.value)
    if override is None:
        return limits
    return replace(limits, **{name: getattr(override, name) for name in override.model_fields_set})


def plan_table(settings: Settings) -> list[PlanLimits]:
    return [plan_limits(settings, plan) for plan in Plan]
