"""The usage page: today's API requests against the plan's daily limit and when it resets, the
storage used against the plan's quota, a 30-day chart of requests and of jobs by status, and
the plan's limits.

Requests are the daily counters that rate-limit `/v1` (the database's or Redis's), read without
counting; the dashboard's own pages are not API requests and count nothing.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from fastapi import APIRouter, Request
from starlette.responses import Response

from pyexec.api.dashboard.charts import bar_chart
from pyexec.api.dashboard.sessions import CurrentVisitor
from pyexec.api.dashboard.templating import DashboardRoute, page, seconds_text
from pyexec.api.deps import RuntimeDep
from pyexec.core import repository
from pyexec.core.models import JobStatus
from pyexec.core.ratelimit import next_midnight

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

CHART_DAYS = 30
STATUS_ORDER = [
    JobStatus.completed.value,
    JobStatus.failed.value,
    JobStatus.cancelled.value,
    JobStatus.running.value,
    JobStatus.pending.value,
]


@router.get("/usage")
async def usage_page(request: Request, visitor: CurrentVisitor, runtime: RuntimeDep) -> Response:
    now = runtime.clock.now()
    today = now.date()
    first = today - timedelta(days=CHART_DAYS - 1)
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    account_id = visitor.account.id
    counter = runtime.request_counter
    assert counter is not None  # the runtime always has one
    requests = await counter.counts(account_id, first, today)
    since = datetime.combine(first, time(0), tzinfo=now.tzinfo)
    async with runtime.db.session() as session:
        jobs = await repository.job_counts_by_day(session, account_id, since)
        stored = await repository.storage_used(session, account_id)
    by_status = {
        status: {day: n for (day, s), n in jobs.items() if s == status} for status in STATUS_ORDER
    }
    limits = visitor.limits
    used = requests.get(today, 0)
    resets_at = next_midnight(now)
    return page(
        request,
        "usage.html",
        {
            "nav": "usage",
            "limits": limits,
            "used": used,
            "remaining": None
            if limits.requests_per_day is None
            else max(0, limits.requests_per_day - used),
            "resets_at": resets_at,
            "resets_in": seconds_text((resets_at - now).total_seconds()),
            "stored": stored,
            "storage_left": max(0, limits.max_storage_bytes - stored),
            "requests_chart": bar_chart(
                f"API requests per day, last {CHART_DAYS} days",
                days,
                {"requests": requests},
                unit=" requests",
            ),
            "jobs_chart": bar_chart(
                f"Jobs per day by status, last {CHART_DAYS} days", days, by_status
            ),
        },
    )
