"""The load test's tool stays working: a short run against a real `pyexec serve` holds, and
its after-the-run checks do find what a service leaves behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil

from pyexec.core import redis_keys as k
from tests.benchmarks.load import (
    LoadTarget,
    after_stop,
    format_load_report,
    load_test,
    redis_leftovers,
)
from tests.support.services import RedisServer

SMOKE_SECONDS = 5.0
SMOKE_CLIENTS = 5


async def test_a_short_mixed_load_on_serve_holds() -> None:
    report = await load_test(
        seconds=SMOKE_SECONDS, clients=SMOKE_CLIENTS, profile="mix", deployment="serve"
    )
    table = format_load_report(report)
    assert report.error_count == 0, table
    assert report.leftovers == [], table
    # Five clients start at different kinds: every kind of the mix ran and was checked.
    assert set(report.results.by_kind) == {"trivial", "csv", "big"}, table
    assert report.rss_start > 0 and report.processes_start >= 2, table
    assert "verdict: held" in table


async def test_after_stop_names_a_process_and_files_that_outlived_the_service(
    tmp_path: Path,
) -> None:
    tmp_dir, work_root = tmp_path / "tmp", tmp_path / "work"
    (tmp_dir / "pyexec-k-x").mkdir(parents=True)
    work_root.mkdir()
    orphan = await asyncio.create_subprocess_exec("sleep", "300", start_new_session=True)
    try:
        proc = psutil.Process(orphan.pid)
        target = LoadTarget("serve", "http://unused", [], [], [], tmp_dir, work_root)
        problems = await after_stop(target, {(proc.pid, proc.create_time())}, grace=0.5)
    finally:
        orphan.kill()
        await asyncio.wait_for(orphan.wait(), 10)
    assert problems == [
        f"process {orphan.pid} of the service outlived it",
        f"1 entries left in {tmp_dir}: pyexec-k-x",
    ]
    assert await after_stop(target, {(proc.pid, proc.create_time())}, grace=0.5) == [
        f"1 entries left in {tmp_dir}: pyexec-k-x"
    ]


async def test_redis_leftovers_are_the_jobs_keys_that_should_be_gone(
    redis_server: RedisServer,
) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_server.url)
    try:
        await redis.flushdb()
        await redis.set(k.lease_key("job-a"), "worker-1")
        await redis.xadd(k.events_stream("job-a"), {"e": "{}"})  # no expiry: a leak
        await redis.xadd(k.events_stream("job-b"), {"e": "{}"})
        await redis.pexpire(k.events_stream("job-b"), 60_000)  # expires: kept by design
        await redis.zadd(k.running_key("acct-1"), {"job-a": 1})
        problems, event_logs = await redis_leftovers(
            redis_server.url, ["job-a", "job-b", "job-c"], ["acct-1"], retention=3600
        )
    finally:
        await redis.flushdb()
        await redis.aclose()
    assert problems == [
        f"redis key {k.lease_key('job-a')}",
        f"redis key {k.events_stream('job-a')} never expires (pttl -1)",
        f"redis key {k.running_key('acct-1')} holds 1 entries",
    ]
    assert event_logs == 1
