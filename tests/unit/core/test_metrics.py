"""The exposition follows Prometheus' naming rules, and what is read at scrape time reads right."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from pyexec.core import metrics
from pyexec.core.queue import InProcessQueue
from pyexec.core.redis_queue import QUEUED_JOB_TTL, queue_priority, queue_score

# Label names that would carry one series per job, account, key or path.
_ID_LIKE = re.compile(r"(^|_)(id|ids|uuid|job|account|key|email|user|path|url|ip)$")
_UNITS = ("_seconds", "_bytes", "_total", "_ratio", "_info")


def _exercise_every_helper() -> None:
    """A sample in every labelled family, so that the checks below see its labels."""
    now = datetime.now(UTC)
    metrics.http_request("GET", "/v1/jobs/{job_id}", 200, 0.01)
    metrics.http_request("BREW", metrics.UNMATCHED_ROUTE, 404, 0.001)
    metrics.job_created("pro")
    metrics.job_started(5, now - timedelta(seconds=2), now)
    metrics.job_finished("pro", "completed", now - timedelta(seconds=1), now)
    metrics.llm_answered("gpt-test", 0.5, 100, 20)
    metrics.llm_failed("gpt-test", 0.5, TimeoutError("slow"))
    metrics.rate_limited("requests_per_day")
    metrics.webhook_delivery("delivered")
    kernel = metrics.KernelMetrics()
    kernel.kernel_started("forkserver", 0.1)
    kernel.kernel_start_failed("forkserver")
    kernel.zygote_restarted()
    kernel.gateway_error("unreachable")


def _families(queue: InProcessQueue | None = None) -> list:
    body, content_type = asyncio.run(metrics.exposition(queue))
    assert content_type.startswith("text/plain")
    return list(text_string_to_metric_families(body.decode()))


def test_every_pyexec_metric_follows_the_naming_rules() -> None:
    _exercise_every_helper()
    families = [f for f in _families(InProcessQueue()) if f.name.startswith("pyexec_")]
    names = {f.name for f in families}
    assert {
        "pyexec_http_requests",
        "pyexec_http_request_duration_seconds",
        "pyexec_jobs_created",
        "pyexec_jobs_finished",
        "pyexec_job_duration_seconds",
        "pyexec_job_queue_wait_seconds",
        "pyexec_queue_depth",
        "pyexec_kernel_start_seconds",
        "pyexec_forkserver_restarts",
        "pyexec_gateway_errors",
        "pyexec_llm_requests",
        "pyexec_llm_errors",
        "pyexec_llm_request_duration_seconds",
        "pyexec_llm_tokens",
        "pyexec_rate_limit_rejections",
        "pyexec_webhook_deliveries",
    } <= names, names
    for family in families:
        assert family.samples, family.name
        for sample in family.samples:
            if family.type == "counter":
                # The parser names a counter's family without `_total`; its samples keep it.
                assert sample.name.endswith("_total"), sample.name
            if family.type == "histogram":
                assert family.name.endswith(("_seconds", "_bytes")), family.name
            if family.type == "gauge" and family.name != "pyexec_queue_depth":
                assert not sample.name.endswith("_total"), sample.name
            for label in sample.labels:
                assert not _ID_LIKE.search(label), f"{sample.name} has an id-like label {label}"
        if family.type != "gauge":
            assert family.name.endswith(_UNITS) or family.type == "counter", family.name


def test_label_values_stay_bounded() -> None:
    metrics.job_finished("enterprise-of-the-future", "exploded", None, None)
    metrics.http_request("X" * 40, metrics.UNMATCHED_ROUTE, 404, 0.0)
    families = {f.name: f for f in _families()}
    finished = {
        (s.labels["status"], s.labels["plan"]) for s in families["pyexec_jobs_finished"].samples
    }
    assert ("other", "other") in finished
    assert all(plan in ("free", "pro", "business", "other") for _, plan in finished)
    methods = {s.labels["method"] for s in families["pyexec_http_requests"].samples}
    assert "X" * 40 not in methods and "other" in methods
    # Every final status and plan is there from the start, at zero or more.
    assert {
        (st, p) for st in ("completed", "failed", "cancelled") for p in ("free", "pro", "business")
    } <= finished


def test_queue_depth_is_read_from_the_queue_at_scrape_time() -> None:
    queue = InProcessQueue()

    async def fill() -> None:
        for i, priority in enumerate((5, 5, 10, 1)):
            await queue.enqueue(f"job-{i}", priority)

    asyncio.run(fill())
    depth = {
        s.labels["priority"]: s.value
        for f in _families(queue)
        if f.name == "pyexec_queue_depth"
        for s in f.samples
    }
    assert depth == {str(p): {5: 2.0, 10: 1.0, 1: 1.0}.get(p, 0.0) for p in range(1, 11)}


def test_an_unreadable_queue_leaves_the_depth_out_and_the_rest_in() -> None:
    class Down(InProcessQueue):
        async def depth(self) -> dict[int, int]:
            raise ConnectionError("Redis is down")

    names = {f.name for f in _families(Down())}
    assert "pyexec_queue_depth" not in names
    assert "pyexec_jobs_created" in names


def test_a_redis_score_gives_back_its_priority() -> None:
    now = datetime.now(UTC)
    now_ms = now.timestamp() * 1000
    for priority in range(1, 11):
        for waited in (timedelta(0), timedelta(hours=5), QUEUED_JOB_TTL):
            score = queue_score(priority, now - waited)
            assert queue_priority(score, now_ms) == priority
        # Another API's clock a little ahead of this one's.
        assert queue_priority(queue_score(priority, now + timedelta(seconds=2)), now_ms) == priority


def test_a_token_guards_the_metrics_only_when_set() -> None:
    assert metrics.authorized(None, None)
    assert metrics.authorized("", "Bearer anything")
    assert metrics.authorized("s3cret", "Bearer s3cret")
    assert metrics.authorized("s3cret", "bearer s3cret")
    assert not metrics.authorized("s3cret", None)
    assert not metrics.authorized("s3cret", "Bearer wrong")
    assert not metrics.authorized("s3cret", "Basic s3cret")
