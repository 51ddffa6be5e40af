"""`make bench-load`: N clients for D seconds against a real PyExec, then what it left behind.

    .venv/bin/python -m tests.benchmarks.load [--seconds 120] [--clients 50]
        [--profile trivial|mix] [--deployment serve|scaled] [--accounts 1]

Each client submits a job, holds `GET /v1/jobs/{id}?wait=30` until it is final, checks what it
printed, and starts the next, until the time is up; then the jobs in flight finish (nothing is
abandoned). `trivial` jobs run `print(1)`; `mix` cycles through that, an uploaded CSV read by
the job, and a job printing ~1 MB.

The service is started here, on free loopback ports, with its temporary files in a directory
of its own (`TMPDIR`): `serve` (the embedded deployment) or `scaled` (`pyexec api` + 2
`pyexec worker`s on a fresh PostgreSQL database and Redis). Its accounts are on the `business`
plan (no daily request limit). Reported: jobs/s, submit and end-to-end latency, errors by kind
(a 429 at the documented per-account cap of open `?wait=` requests is counted apart and
retried; any other 429 is an error), the RSS of the service's process tree (the pids started
here and their descendants) idle before and after, and what was left: processes, kernel work
and runtime dirs, Redis keys of the jobs -- each checked by the pids, dirs and keys of the
service started here, never by a name pattern. The exit status is 1 if anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import psutil

from tests.support.deployment import Deployment
from tests.support.servers import PyExecProcess, Server
from tests.support.services import PostgresCluster, RedisServer

__all__ = [
    "LoadReport",
    "LoadTarget",
    "format_load_report",
    "run_load",
    "scaled_target",
    "serve_target",
]

Profile = Literal["trivial", "mix"]
DeploymentName = Literal["serve", "scaled"]

DEFAULT_SECONDS = 120.0
DEFAULT_CLIENTS = 50
WAIT_SECONDS = 30  # each GET's `?wait=`
HTTP_TIMEOUT_SECONDS = WAIT_SECONDS + 60.0  # a held GET plus a loaded machine's slack
JOB_TIMEOUT_SECONDS = 300.0  # from POST to final status, per job
SAMPLE_INTERVAL_SECONDS = 1.0
SETTLE_TIMEOUT_SECONDS = 90.0  # for the pools to refill and the tree to be idle again
STOP_GRACE_SECONDS = 10.0  # after the service exits, for its children to go too
WARMUP_JOBS = 2  # per account, before the start is measured
IDLE_SAMPLES = 3  # samples the tree must stay the same for, at start
POOL_SIZE = 2  # as the bench's other rows
WORKERS = 2
MB = 1024 * 1024
FINAL = frozenset({"completed", "failed", "cancelled"})
HOLD_CAP_MARK = "open waiting requests"  # api/holds.py's message for the documented cap

CSV_ROWS = 5_000
CSV = "x,y\n" + "".join(f"{i},{i % 7}\n" for i in range(CSV_ROWS))
CSV_SUM = sum(range(CSV_ROWS))
BIG_LINES = 10_000  # 10,000 lines of 100 characters: ~1 MB printed
CODE = {
    "trivial": "print(1)",
    "csv": "import pandas as pd\ndf = pd.read_csv('data.csv')\nprint(int(df['x'].sum()))",
    "big": f"for i in range({BIG_LINES}):\n    print(f'{{i:>8}} ' + 'x' * 91)",
}
EXPECTED = {"trivial": "1", "csv": str(CSV_SUM), "big": "       0 " + "x" * 91}
MIX = ("trivial", "csv", "big")


# -- the service under load -----------------------------------------------------------------


@dataclass
class LoadTarget:
    """A running deployment: where to send requests and what to watch."""

    name: str
    base_url: str
    keys: list[str]
    account_ids: list[str]
    processes: list[PyExecProcess]  # started here; their trees are the service
    tmp_dir: Path  # the service's TMPDIR
    work_root: Path  # kernels' work dirs
    redis_url: str | None = None
    pools: int = 1  # kernel pools (one per process that runs jobs), POOL_SIZE kernels each

    @property
    def root_pids(self) -> list[int]:
        return [p.pid for p in self.processes]


async def _accounts(proc: PyExecProcess, count: int) -> tuple[list[str], list[str]]:
    from pyexec.admin import create_key_for

    keys, ids = [], []
    for n in range(count):
        account, _, key = await create_key_for(
            proc.settings(), f"load-{n}@example.com", "business", "load"
        )
        keys.append(key)
        ids.append(account.id)
    return keys, ids


def _service_env(tmp: Path) -> dict[str, str]:
    tmp_dir = tmp / "service-tmp"
    tmp_dir.mkdir()
    return {"TMPDIR": str(tmp_dir), "PYEXEC_KERNEL_POOL_SIZE": str(POOL_SIZE)}


@contextlib.asynccontextmanager
async def serve_target(
    accounts: int = 1, env: dict[str, str] | None = None
) -> AsyncIterator[LoadTarget]:
    """`pyexec serve` in a fresh data dir (`env` adds settings); stopped (SIGTERM) on exit."""
    with tempfile.TemporaryDirectory(prefix="pyexec-load-") as tmp:
        env = {**_service_env(Path(tmp)), **(env or {})}
        server = Server(Path(tmp, "data"), env)
        try:
            await asyncio.to_thread(server.start)
            keys, ids = await _accounts(server, accounts)
            yield LoadTarget(
                "serve", server.url, keys, ids, [server], Path(env["TMPDIR"]),
                server.settings().work_root,
            )  # fmt: skip
        finally:
            await asyncio.to_thread(server.stop)


@contextlib.asynccontextmanager
async def scaled_target(accounts: int = 1, workers: int = WORKERS) -> AsyncIterator[LoadTarget]:
    """`pyexec api` + `workers` x `pyexec worker` on a fresh PostgreSQL cluster and Redis."""
    postgres = await asyncio.to_thread(PostgresCluster().start)
    redis = await asyncio.to_thread(RedisServer().start)
    try:
        with tempfile.TemporaryDirectory(prefix="pyexec-load-scaled-") as tmp:
            env = {**_service_env(Path(tmp)), "PYEXEC_LOG_LEVEL": "warning"}
            database_url = await asyncio.to_thread(postgres.create_database)
            dep = Deployment(Path(tmp), database_url, redis, env)
            try:
                await asyncio.to_thread(dep.migrate)
                await asyncio.to_thread(dep.start_api)
                for _ in range(workers):
                    await asyncio.to_thread(dep.start_worker)
                keys, ids = await _accounts(dep.api, accounts)
                yield LoadTarget(
                    "scaled", dep.api.url, keys, ids, [*dep.apis, *dep.workers],
                    Path(env["TMPDIR"]), dep.api.settings().work_root, redis.url, workers,
                )  # fmt: skip
            finally:
                await asyncio.to_thread(dep.stop)
    finally:
        await asyncio.to_thread(redis.cleanup)
        await asyncio.to_thread(postgres.cleanup)


# -- watching the service's process tree ----------------------------------------------------

ProcessId = tuple[int, float]  # pid and create time: a reused pid is another process


def _tree(root_pids: Sequence[int]) -> list[psutil.Process]:
    found = []
    for pid in root_pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            found += [root, *root.children(recursive=True)]
    return found


def _identity(proc: psutil.Process) -> ProcessId | None:
    try:
        return proc.pid, proc.create_time()
    except psutil.Error:
        return None


@dataclass
class TreeSnapshot:
    processes: set[ProcessId]
    rss: int  # the whole tree; pages kernels share with their zygote count in each
    roots_rss: int  # the processes started here alone (API, worker), without kernels


def snapshot(root_pids: Sequence[int]) -> TreeSnapshot:
    ids, rss, roots_rss = set(), 0, 0
    for proc in _tree(root_pids):
        with contextlib.suppress(psutil.Error):
            own = proc.memory_info().rss
            rss += own
            if proc.pid in root_pids:
                roots_rss += own
            if (ident := _identity(proc)) is not None:
                ids.add(ident)
    return TreeSnapshot(ids, rss, roots_rss)


def alive(processes: set[ProcessId]) -> list[int]:
    """Which of these processes still exist (same pid, same create time)."""
    left = []
    for pid, created in processes:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
    return sorted(left)


@dataclass
class TreeWatch:
    """Samples the tree every second: its peak RSS and every process it ever had."""

    root_pids: list[int]
    seen: set[ProcessId] = field(default_factory=set)
    peak_rss: int = 0
    peak_processes: int = 0

    async def sample(self) -> TreeSnapshot:
        snap = await asyncio.to_thread(snapshot, self.root_pids)
        self.seen |= snap.processes
        self.peak_rss = max(self.peak_rss, snap.rss)
        self.peak_processes = max(self.peak_processes, len(snap.processes))
        return snap

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(SAMPLE_INTERVAL_SECONDS)


def dir_entries(root: Path, depth: int = 2) -> list[Path]:
    """Everything under `root`, `depth` levels down (kernel dirs sit at the second level)."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    level = [root]
    for _ in range(depth):
        below = []
        for directory in level:
            with contextlib.suppress(OSError):
                for entry in directory.iterdir():
                    found.append(entry)
                    if entry.is_dir() and not entry.is_symlink():
                        below.append(entry)
        level = below
    return found


async def redis_leftovers(
    redis_url: str, job_ids: Sequence[str], account_ids: Sequence[str], retention: float
) -> tuple[list[str], int]:
    """Keys of these jobs and accounts that should be gone; and how many event logs remain
    (kept by design for PYEXEC_EVENTS_RETENTION_SECONDS, then expired by Redis)."""
    from redis.asyncio import Redis

    from pyexec.core import redis_keys as k

    problems: list[str] = []
    event_logs = 0
    redis = Redis.from_url(redis_url)
    try:
        for job_id in job_ids:
            for key in (
                k.lease_key(job_id), k.arq_job_key(job_id), k.arq_in_progress_key(job_id),
                f"arq:retry:{job_id}",
            ):  # fmt: skip
                if await redis.exists(key):
                    problems.append(f"redis key {key}")
            if await redis.zscore(k.QUEUE, job_id) is not None:
                problems.append(f"job {job_id} still in {k.QUEUE}")
            ttl = await redis.pttl(k.events_stream(job_id))
            if ttl == -1 or ttl > retention * 1000:
                problems.append(f"redis key {k.events_stream(job_id)} never expires (pttl {ttl})")
            elif ttl > 0:
                event_logs += 1
        for account_id in account_ids:
            for key in (k.running_key(account_id), k.held_key(account_id)):
                if count := await redis.zcard(key):
                    problems.append(f"redis key {key} holds {count} entries")
    finally:
        await redis.aclose()
    return problems, event_logs


# -- the clients ----------------------------------------------------------------------------


class JobError(Exception):
    """One failed request or job; `kind` groups it in the report."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass
class Results:
    submit: list[float] = field(default_factory=list)
    upload: list[float] = field(default_factory=list)
    end_to_end: list[float] = field(default_factory=list)
    by_kind: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    capped: int = 0  # 429 at the documented per-account cap of open ?wait= requests
    job_ids: list[str] = field(default_factory=list)
    last_final: float = 0.0

    def error(self, exc: JobError) -> None:
        self.errors[exc.kind] += 1
        self.error_examples.setdefault(exc.kind, exc.detail[:300])


def _http_error(response: httpx.Response, what: str) -> JobError:
    code = ""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        code = str(response.json()["error"]["code"])
    return JobError(f"{what} {response.status_code} {code}".rstrip(), response.text)


def _is_hold_cap(response: httpx.Response) -> bool:
    return response.status_code == 429 and HOLD_CAP_MARK in response.text


def _printed(job: dict[str, Any]) -> str:
    return "".join(
        str(out.get("text", "")) for out in job.get("outputs") or () if out.get("type") == "text"
    )


class Client:
    """One simulated user: a job at a time, until the deadline."""

    def __init__(self, http: httpx.AsyncClient, results: Results, profile: Profile, n: int):
        self.http = http
        self.results = results
        self.profile = profile
        self.turn = n  # mix: clients start at different kinds

    def next_kind(self) -> str:
        kind = "trivial" if self.profile == "trivial" else MIX[self.turn % len(MIX)]
        self.turn += 1
        return kind

    async def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            kind = self.next_kind()
            try:
                await self.one_job(kind)
            except JobError as exc:
                self.results.error(exc)
            except httpx.HTTPError as exc:
                self.results.error(JobError(f"transport {type(exc).__name__}", repr(exc)))

    async def one_job(self, kind: str) -> None:
        start = time.perf_counter()
        body: dict[str, Any] = {"code": CODE[kind], "title": f"load {kind}"}
        if kind == "csv":
            response = await self.http.post(
                "/v1/files", files={"file": ("data.csv", CSV.encode(), "text/csv")}
            )
            if response.status_code != 201:
                raise _http_error(response, "POST /v1/files")
            self.results.upload.append(time.perf_counter() - start)
            body["file_ids"] = [response.json()["id"]]
        posted = time.perf_counter()
        response = await self.http.post("/v1/jobs", json=body)
        if response.status_code != 201:
            raise _http_error(response, "POST /v1/jobs")
        self.results.submit.append(time.perf_counter() - posted)
        job = response.json()
        self.results.job_ids.append(job["id"])
        job = await self.final(job, posted)
        if job["status"] != "completed":
            raise JobError(f"job {job['status']}", f"{job['id']}: {job.get('error_message')}")
        if EXPECTED[kind] not in _printed(job):
            raise JobError(f"wrong output ({kind})", f"{job['id']}: {_printed(job)[:200]!r}")
        self.results.end_to_end.append(time.perf_counter() - start)
        self.results.by_kind[kind] += 1
        self.results.last_final = time.monotonic()

    async def final(self, job: dict[str, Any], posted: float) -> dict[str, Any]:
        while job["status"] not in FINAL:
            if time.perf_counter() - posted > JOB_TIMEOUT_SECONDS:
                raise JobError("job not final in time", f"{job['id']} still {job['status']}")
            response = await self.http.get(f"/v1/jobs/{job['id']}", params={"wait": WAIT_SECONDS})
            if _is_hold_cap(response):
                self.results.capped += 1
                await asyncio.sleep(float(response.headers.get("Retry-After", "5")))
                continue
            if response.status_code != 200:
                raise _http_error(response, "GET /v1/jobs/{id}")
            job = response.json()
        return job


# -- one run --------------------------------------------------------------------------------


@dataclass
class LoadReport:
    deployment: str
    profile: str
    clients: int
    accounts: int
    seconds: float
    elapsed: float  # from the first request to the last job's final status
    results: Results
    rss_start: int
    rss_peak: int
    rss_end: int
    roots_rss_start: int
    roots_rss_end: int
    processes_start: int
    processes_end: int
    processes_peak: int
    leftovers: list[str]
    event_logs: int  # Redis event logs of the jobs, expiring by design

    @property
    def jobs(self) -> int:
        return len(self.results.end_to_end)

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.results.errors.values())

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and not self.leftovers and self.jobs > 0


def _clients(target: LoadTarget, clients: int) -> list[httpx.AsyncClient]:
    per_account = -(-clients // len(target.keys))
    limits = httpx.Limits(max_connections=per_account + 4, max_keepalive_connections=per_account)
    return [
        httpx.AsyncClient(
            base_url=target.base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(HTTP_TIMEOUT_SECONDS, connect=30.0),
            limits=limits,
        )
        for key in target.keys
    ]


async def _warm_up(http: Sequence[httpx.AsyncClient]) -> None:
    results = Results()
    for client in http:
        for n in range(WARMUP_JOBS):
            await Client(client, results, "trivial", n).one_job("trivial")


def _pools_full(target: LoadTarget) -> bool:
    """Every pool has its directory and POOL_SIZE kernel dirs in it: idle and warm."""
    pools = [p for p in dir_entries(target.work_root, 1) if p.is_dir()]
    return len(pools) == target.pools and all(
        len(dir_entries(pool, 1)) == POOL_SIZE for pool in pools
    )


async def _wait_idle(watch: TreeWatch, target: LoadTarget) -> TreeSnapshot:
    """The idle, warm service: every pool full and the tree unchanged for a few samples.
    (A worker is ready before its pool has warmed; a snapshot then would flatter the end.)"""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    counts: list[int] = []
    while True:
        snap = await watch.sample()
        counts = [*counts[-(IDLE_SAMPLES - 1) :], len(snap.processes)]
        full = await asyncio.to_thread(_pools_full, target)
        stable = len(counts) == IDLE_SAMPLES and len(set(counts)) == 1
        if (full and stable) or time.monotonic() > deadline:
            return snap
        await asyncio.sleep(SAMPLE_INTERVAL_SECONDS)


async def _settle(watch: TreeWatch, processes: int, target: LoadTarget, dirs: int) -> TreeSnapshot:
    """Wait until the tree and the kernel dirs are back to their idle size (pools refilled)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while True:
        snap = await watch.sample()
        now_dirs = len(await asyncio.to_thread(_kernel_dirs, target))
        if (len(snap.processes) <= processes and now_dirs <= dirs) or time.monotonic() > deadline:
            return snap
        await asyncio.sleep(SAMPLE_INTERVAL_SECONDS)


def _kernel_dirs(target: LoadTarget) -> list[Path]:
    return dir_entries(target.work_root) + dir_entries(target.tmp_dir)


async def run_load(
    target: LoadTarget, *, seconds: float, clients: int, profile: Profile
) -> tuple[LoadReport, set[ProcessId]]:
    """Drive the running `target`; the report (without the after-stop checks, see `main`)
    and every process its tree had."""
    from pyexec.core.settings import Settings

    watch = TreeWatch(target.root_pids)
    http = _clients(target, clients)
    try:
        await _warm_up(http)
        start = await _wait_idle(watch, target)
        start_dirs = len(await asyncio.to_thread(_kernel_dirs, target))
        sampler = asyncio.create_task(watch.run())
        results = Results()
        began = time.monotonic()
        deadline = began + seconds
        try:
            users = [
                Client(http[n % len(http)], results, profile, n).run(deadline)
                for n in range(clients)
            ]
            await asyncio.gather(*users)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        elapsed = (results.last_final or time.monotonic()) - began
        end = await _settle(watch, len(start.processes), target, start_dirs)
    finally:
        for client in http:
            await client.aclose()

    leftovers: list[str] = []
    if len(end.processes) > len(start.processes):
        leftovers.append(
            f"{len(end.processes) - len(start.processes)} more processes in the service's tree "
            f"than idle at start ({len(end.processes)} vs {len(start.processes)}), "
            f"{SETTLE_TIMEOUT_SECONDS:.0f} s after the last job"
        )
    end_dirs = await asyncio.to_thread(_kernel_dirs, target)
    if len(end_dirs) > start_dirs:
        leftovers.append(
            f"{len(end_dirs) - start_dirs} more kernel work/runtime dirs than idle at start: "
            + ", ".join(str(p) for p in end_dirs[:5])
        )
    event_logs = 0
    if target.redis_url is not None:
        retention = float(Settings.model_fields["events_retention_seconds"].default)
        problems, event_logs = await redis_leftovers(
            target.redis_url, results.job_ids, target.account_ids, retention
        )
        leftovers += problems
    report = LoadReport(
        target.name, profile, clients, len(target.keys), seconds, elapsed, results,
        start.rss, watch.peak_rss, end.rss, start.roots_rss, end.roots_rss,
        len(start.processes), len(end.processes), watch.peak_processes, leftovers, event_logs,
    )  # fmt: skip
    return report, watch.seen


async def after_stop(
    target: LoadTarget, seen: set[ProcessId], grace: float = STOP_GRACE_SECONDS
) -> list[str]:
    """Once the service has exited: none of its processes, temp files or kernel dirs left."""
    deadline = time.monotonic() + grace
    left = await asyncio.to_thread(alive, seen)
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # kernels notice their parent's exit on their own
        left = await asyncio.to_thread(alive, seen)
    problems = [f"process {pid} of the service outlived it" for pid in left]
    for root in (target.tmp_dir, target.work_root):
        if entries := await asyncio.to_thread(dir_entries, root, 1):
            problems.append(
                f"{len(entries)} entries left in {root}: " + ", ".join(p.name for p in entries[:5])
            )
    return problems


@contextlib.asynccontextmanager
async def target_for(deployment: DeploymentName, accounts: int) -> AsyncIterator[LoadTarget]:
    factory = serve_target if deployment == "serve" else scaled_target
    async with factory(accounts) as target:
        yield target


async def load_test(
    *,
    seconds: float = DEFAULT_SECONDS,
    clients: int = DEFAULT_CLIENTS,
    profile: Profile = "trivial",
    deployment: DeploymentName = "serve",
    accounts: int = 1,
) -> LoadReport:
    """Start the deployment, drive it, stop it, check what it left: the whole test."""
    async with target_for(deployment, accounts) as target:
        report, seen = await run_load(target, seconds=seconds, clients=clients, profile=profile)
    report.leftovers += await after_stop(target, seen)
    return report


# -- the table ------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _quantile(values: Sequence[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _latency_rows(report: LoadReport) -> Iterator[tuple[str, Sequence[float]]]:
    r = report.results
    yield "submit: POST /v1/jobs until 201", r.submit
    if r.upload:
        yield "upload: POST /v1/files until 201 (mix, csv)", r.upload
    yield "end to end: first POST until final, checked", r.end_to_end


def format_load_report(report: LoadReport) -> str:
    r = report.results
    title = (
        f"load: {report.profile} jobs, {report.deployment}, {report.clients} clients, "
        f"{report.seconds:.0f} s, {report.accounts} business account(s)"
    )
    width = 48
    lines = [
        title,
        f"{'measurement':<{width}} {'runs':>6} {'p50':>10} {'p90':>10} {'p99':>10} {'max':>10}",
    ]
    for label, values in _latency_rows(report):
        if not values:
            lines.append(f"{label:<{width}} {0:>6} {'n/a':>10}")
            continue
        lines.append(
            f"{label:<{width}} {len(values):>6} {_ms(_quantile(values, 50)):>10} "
            f"{_ms(_quantile(values, 90)):>10} {_ms(_quantile(values, 99)):>10} "
            f"{_ms(max(values)):>10}"
        )
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(r.by_kind.items()))
    lines += [
        f"{'throughput: completed jobs/s':<{width}} {report.jobs:>6} "
        f"{report.jobs_per_second:>9.1f}/s  {report.elapsed:.1f} s until the last was final"
        + (f" ({kinds})" if report.profile == "mix" else ""),
        f"{'errors (goal 0)':<{width}} {report.error_count:>6}",
    ]
    for kind, count in r.errors.most_common():
        lines.append(f"  {kind}: {count}  e.g. {r.error_examples[kind]!r}")
    lines.append(
        f"{'429 at the per-account ?wait= cap (retried)':<{width}} {r.capped:>6}  "
        "documented: PYEXEC_MAX_OPEN_WAITS_PER_ACCOUNT; not counted as errors"
    )
    rss_delta = (report.rss_end - report.rss_start) / MB
    lines += [
        f"{'service RSS, process tree, idle start -> end':<{width}} "
        f"{report.rss_start / MB:>8.0f} MB -> {report.rss_end / MB:.0f} MB "
        f"({rss_delta:+.0f} MB; peak {report.rss_peak / MB:.0f} MB under load)",
        f"{'  of which the processes started (no kernels)':<{width}} "
        f"{report.roots_rss_start / MB:>8.0f} MB -> {report.roots_rss_end / MB:.0f} MB "
        f"({(report.roots_rss_end - report.roots_rss_start) / MB:+.0f} MB)",
        f"{'service processes, idle start -> end':<{width}} "
        f"{report.processes_start:>6} -> {report.processes_end} "
        f"(peak {report.processes_peak})",
    ]
    if report.deployment == "scaled":
        lines.append(
            f"{'Redis event logs of the jobs (expire by design)':<{width}} {report.event_logs:>6}"
        )
    if report.leftovers:
        lines.append(f"{'left behind':<{width}} {len(report.leftovers):>6}")
        lines += [f"  {item}" for item in report.leftovers[:20]]
    else:
        lines.append(
            f"{'left behind':<{width}} {'nothing':>6}  (processes, kernel work/runtime dirs, "
            "temp files" + (", Redis keys" if report.deployment == "scaled" else "") + ")"
        )
    lines.append(f"verdict: {'held' if report.ok else 'NOT HELD'}")
    return "\n".join(lines)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench-load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--profile", choices=["trivial", "mix"], default="trivial")
    parser.add_argument("--deployment", choices=["serve", "scaled"], default="serve")
    parser.add_argument("--accounts", type=int, default=1, help="business accounts to spread over")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.clients < 1 or args.accounts < 1:
        parser.error("--seconds must be positive, --clients and --accounts at least 1")
    if args.accounts > args.clients:
        parser.error("--accounts may not exceed --clients")
    return args


async def run(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    print(
        f"load test: {args.clients} clients, {args.seconds:g} s, {args.profile}, "
        f"{args.deployment} ...",
        flush=True,
    )
    report = await load_test(
        seconds=args.seconds,
        clients=args.clients,
        profile=args.profile,
        deployment=args.deployment,
        accounts=args.accounts,
    )
    print(format_load_report(report))
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(argv))


if __name__ == "__main__":
    sys.exit(main())
