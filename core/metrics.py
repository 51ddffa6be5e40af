"""Prometheus metrics: every metric PyExec exports is defined here, with the helpers that the
few call sites owning each event use (one line each at the call site).

One registry per process (prometheus_client's default): `pyexec serve` exposes the API's and
the in-process worker's metrics together on `GET /metrics`; a `pyexec worker` serves its own on
`PYEXEC_METRICS_PORT` (`worker.metrics_port`). What is cheaper to read than to count (the queue
depth, the kernel pool's kernels) is read at scrape time. Names follow Prometheus conventions:
`pyexec_` prefix, the unit in the name (`_seconds`), `_total` on counters, and only bounded
label values (route templates, never raw paths; plan and final status; never a job or account
id). docs/operations.md lists them all.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import weakref
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Literal, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from pyexec.core.models import FINAL_STATUSES, Plan
from pyexec.core.queue import JobQueue

log = logging.getLogger("pyexec.metrics")

# No `_created` series beside each counter and histogram: timestamps nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]

# A scrape never waits longer than this for the queue's depth (Redis): it reports without it.
QUEUE_DEPTH_TIMEOUT_SECONDS = 2.0

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # the route label of a request no route matched (a 404)
OTHER = "other"

_PLANS = tuple(p.value for p in Plan)
_FINAL = tuple(sorted(s.value for s in FINAL_STATUSES))

RateLimit = Literal["requests_per_day", "open_waits", "open_streams"]
WebhookOutcome = Literal["delivered", "retrying", "failed", "refused"]
_RATE_LIMITS: tuple[RateLimit, ...] = ("requests_per_day", "open_waits", "open_streams")
_WEBHOOK_OUTCOMES: tuple[WebhookOutcome, ...] = ("delivered", "retrying", "failed", "refused")

# -- HTTP (api.http_metrics) ------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "pyexec_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "pyexec_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response (a ?wait= or an event stream "
    "counts its whole length), by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

# -- jobs (api.submission's callers, worker.run) ---------------------------------------------

JOBS_CREATED = Counter(
    "pyexec_jobs_created_total", "Jobs submitted and stored, by the account's plan.", ["plan"]
)
JOBS_FINISHED = Counter(
    "pyexec_jobs_finished_total",
    "Jobs that reached a final status (completed, failed, cancelled), by it and by plan.",
    ["status", "plan"],
)
JOB_DURATION = Histogram(
    "pyexec_job_duration_seconds",
    "A job's run, from its start in a worker to its final status, by final status.",
    ["status"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
JOB_QUEUE_WAIT = Histogram(
    "pyexec_job_queue_wait_seconds",
    "A job's wait from its submission to its start in a worker, by priority (1-10).",
    ["priority"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)

# -- kernels (through kernels.telemetry: the kernels floor knows no metrics library) ----------

KERNEL_START = Histogram(
    "pyexec_kernel_start_seconds",
    "Time to start a kernel and warm it until the pool may lend it, by backend.",
    ["backend"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
KERNEL_START_FAILURES = Counter(
    "pyexec_kernel_start_failures_total", "Kernel starts that failed, by backend.", ["backend"]
)
FORKSERVER_RESTARTS = Counter(
    "pyexec_forkserver_restarts_total",
    "Fork-server zygotes lost (killed, crashed) and replaced on the next launch.",
)
GATEWAY_ERRORS = Counter(
    "pyexec_gateway_errors_total",
    "Failed requests to Jupyter Enterprise Gateway, by kind (unreachable, auth, limit, "
    "launch_timeout, kernelspec, other).",
    ["kind"],
)

# -- the model (worker.agent.openai_provider) ------------------------------------------------

LLM_REQUESTS = Counter(
    "pyexec_llm_requests_total",
    "Chat-completion requests to the model (one per turn, the client's retries included).",
    ["model"],
)
LLM_ERRORS = Counter(
    "pyexec_llm_errors_total",
    "Model requests that failed after their retries, by kind (timeout, connection, "
    "http_429, http_4xx, http_5xx, other).",
    ["model", "kind"],
)
LLM_DURATION = Histogram(
    "pyexec_llm_request_duration_seconds",
    "Time a model request took, retries included.",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
LLM_TOKENS = Counter(
    "pyexec_llm_tokens_total",
    "Tokens the model endpoint reported, by model and kind (prompt, completion).",
    ["model", "kind"],
)

# -- limits and webhooks ---------------------------------------------------------------------

RATE_LIMITED = Counter(
    "pyexec_rate_limit_rejections_total",
    "Requests refused with 429, by the limit reached (requests_per_day, open_waits, open_streams).",
    ["limit"],
)
WEBHOOK_DELIVERIES = Counter(
    "pyexec_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome (delivered; retrying: failed, tried again later; "
    "failed: retries exhausted; refused: the address is not allowed).",
    ["outcome"],
)

# Series that exist from the start, at 0: a rate() over them works from the first scrape.
for _plan in _PLANS:
    JOBS_CREATED.labels(plan=_plan)
    for _status in _FINAL:
        JOBS_FINISHED.labels(status=_status, plan=_plan)
for _limit in _RATE_LIMITS:
    RATE_LIMITED.labels(limit=_limit)
for _outcome in _WEBHOOK_OUTCOMES:
    WEBHOOK_DELIVERIES.labels(outcome=_outcome)


# -- helpers for the call sites ---------------------------------------------------------------


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else OTHER
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_DURATION.labels(method=method, route=route).observe(seconds)


def job_created(plan: str) -> None:
    JOBS_CREATED.labels(plan=_plan_label(plan)).inc()


def job_started(priority: int, created_at: datetime, started_at: datetime | None) -> None:
    """A worker claimed the job: its wait in the queue."""
    if started_at is not None:
        wait = (_utc(started_at) - _utc(created_at)).total_seconds()
        JOB_QUEUE_WAIT.labels(priority=str(min(max(priority, 1), 10))).observe(max(wait, 0.0))


def job_finished(
    plan: str, status: str, started_at: datetime | None, completed_at: datetime | None
) -> None:
    """A job reached its final status (counted once: where the status was written)."""
    status = status if status in _FINAL else OTHER
    JOBS_FINISHED.labels(status=status, plan=_plan_label(plan)).inc()
    if started_at is not None and completed_at is not None:
        seconds = (_utc(completed_at) - _utc(started_at)).total_seconds()
        JOB_DURATION.labels(status=status).observe(max(seconds, 0.0))


def llm_answered(model: str, seconds: float, prompt_tokens: int, completion_tokens: int) -> None:
    LLM_REQUESTS.labels(model=model).inc()
    LLM_DURATION.labels(model=model).observe(seconds)
    LLM_TOKENS.labels(model=model, kind="prompt").inc(max(prompt_tokens, 0))
    LLM_TOKENS.labels(model=model, kind="completion").inc(max(completion_tokens, 0))


def llm_failed(model: str, seconds: float, error: BaseException) -> None:
    LLM_REQUESTS.labels(model=model).inc()
    LLM_DURATION.labels(model=model).observe(seconds)
    LLM_ERRORS.labels(model=model, kind=llm_error_kind(error)).inc()


def llm_error_kind(error: BaseException) -> str:
    """A bounded name for a failed model request (duck-typed: core does not import openai)."""
    name = type(error).__name__
    if "Timeout" in name:
        return "timeout"
    if "Connection" in name:
        return "connection"
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        if status == 429:
            return "http_429"
        return "http_5xx" if status >= 500 else "http_4xx"
    return OTHER


def rate_limited(limit: RateLimit) -> None:
    RATE_LIMITED.labels(limit=limit).inc()


def webhook_delivery(outcome: WebhookOutcome) -> None:
    """One delivery attempt of a job's webhook ended so (for the webhooks' sender)."""
    WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()


class KernelMetrics:
    """The metrics side of `kernels.telemetry.KernelTelemetry` (installed by the worker)."""

    def kernel_started(self, backend: str, seconds: float) -> None:
        KERNEL_START.labels(backend=backend).observe(seconds)

    def kernel_start_failed(self, backend: str) -> None:
        KERNEL_START_FAILURES.labels(backend=backend).inc()

    def zygote_restarted(self) -> None:
        FORKSERVER_RESTARTS.inc()

    def gateway_error(self, kind: str) -> None:
        GATEWAY_ERRORS.labels(kind=kind).inc()


# -- read at scrape time ----------------------------------------------------------------------

POOL_STATES = ("idle", "starting", "leased")


class PoolWithStats(Protocol):
    """A kernel pool as the metrics see it (`kernels.KernelPool`)."""

    @property
    def stats(self) -> Mapping[str, int]: ...


class _PoolCollector(Collector):
    """`pyexec_kernel_pool_kernels{state}`: the kernels of this process's pools, now."""

    def __init__(self) -> None:
        self.pools: weakref.WeakSet[PoolWithStats] = weakref.WeakSet()

    def collect(self) -> Iterable[Metric]:
        pools = list(self.pools)
        if not pools:
            return
        family = GaugeMetricFamily(
            "pyexec_kernel_pool_kernels",
            "Kernels of this process's pool by state: idle (warm, ready to lend), starting, "
            "leased (running a job).",
            labels=["state"],
        )
        totals = dict.fromkeys(POOL_STATES, 0)
        for pool in pools:
            stats = pool.stats
            for state in POOL_STATES:
                totals[state] += int(stats.get(state, 0))
        for state in POOL_STATES:
            family.add_metric([state], totals[state])
        yield family


_POOLS = _PoolCollector()
REGISTRY.register(_POOLS)


def watch_pool(pool: PoolWithStats) -> None:
    """Report the pool's kernels at each scrape, for as long as the pool exists (a closed
    pool has none)."""
    _POOLS.pools.add(pool)


class _Scrape(Collector):
    """What one scrape read from outside the registry: the queue's depth by priority."""

    def __init__(self, depth: Mapping[int, int] | None) -> None:
        self.depth = depth

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        if self.depth is None:
            return  # unreadable (Redis down): absent, so that an autoscaler holds still
        family = GaugeMetricFamily(
            "pyexec_queue_depth",
            "Jobs queued and not yet started, by priority (10 most urgent); the whole "
            "deployment's queue, the same in every process that reads it.",
            labels=["priority"],
        )
        for priority in range(1, 11):
            family.add_metric([str(priority)], self.depth.get(priority, 0))
        yield family


async def exposition(queue: JobQueue | None) -> tuple[bytes, str]:
    """This process's metrics in the Prometheus text format, and its content type."""
    depth: Mapping[int, int] | None = None
    if queue is not None:
        try:
            depth = await asyncio.wait_for(queue.depth(), QUEUE_DEPTH_TIMEOUT_SECONDS)
        except Exception as exc:  # a scrape reports what it can
            log.warning("queue depth unavailable for /metrics: %s: %s", type(exc).__name__, exc)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(depth))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def authorized(token: str | None, authorization: str | None) -> bool:
    """Whether a scrape may read the metrics: always without a token, else with
    `Authorization: Bearer <token>` (compared in constant time)."""
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _plan_label(plan: str) -> str:
    return plan if plan in _PLANS else OTHER


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
