"""`make bench`: PyExec's latency beside its floor (raw jupyter_client) and papermill.

    .venv/bin/python -m tests.benchmarks.bench [--runs 50] [--slow-runs 10] [--only a,c]
        [--pyexec "CMD"]    # how to run the service's CLI; default: the venv's `pyexec-server`

Each row is one `Benchmark` below: one async function returning `Samples` and one entry in
BENCHMARKS. Kernel rows (d-k) run both backends with the service's default sandbox; the
gateway rows (p-r) run a local Enterprise Gateway (its venv is made on first use).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.benchmarks.client_import import measure_client_import
from tests.benchmarks.gateway import (
    measure_gateway_execute,
    measure_gateway_job,
    measure_gateway_kernel_ready,
)
from tests.benchmarks.kernel_start import measure_idle_memory, measure_kernel_ready
from tests.benchmarks.papermill_cold import measure_papermill
from tests.benchmarks.pyexec_service import measure_pyexec_http
from tests.benchmarks.raw_kernel import measure_raw_kernel
from tests.benchmarks.results import Goal, Ratio, Row, Samples, format_report
from tests.benchmarks.scaled_service import (
    SharedServices,
    measure_scaled_cancel,
    measure_scaled_latency,
    measure_scaled_throughput,
)
from tests.benchmarks.throughput import measure_jobs_per_second

DEFAULT_RUNS = 50
DEFAULT_SLOW_RUNS = 10


@dataclass(frozen=True)
class BenchContext:
    """What the command line says beyond run counts, for the rows that need it."""

    pyexec: list[str] | None = None
    services: SharedServices = field(default_factory=SharedServices)
    # One pool measures both USS and PSS: rows share it through here.
    memory: dict[str, dict[str, Samples]] = field(default_factory=dict)


# Jobs per throughput sample: enough to keep a pool busy, few enough for a slow backend.
FORK_BATCH = 40
LOCAL_BATCH = 8


async def _raw_kernel(runs: int, ctx: BenchContext) -> Samples:
    return await measure_raw_kernel(runs)


async def _pyexec_http(runs: int, ctx: BenchContext) -> Samples:
    return await measure_pyexec_http(runs, pyexec=ctx.pyexec)


async def _papermill(runs: int, ctx: BenchContext) -> Samples:
    return await measure_papermill(runs)


def _ready(backend: str) -> Callable[[int, BenchContext], Awaitable[Samples]]:
    async def measure(runs: int, ctx: BenchContext) -> Samples:
        return await measure_kernel_ready(runs, backend)

    return measure


def _throughput(backend: str, batch: int) -> Callable[[int, BenchContext], Awaitable[Samples]]:
    async def measure(runs: int, ctx: BenchContext) -> Samples:
        return await measure_jobs_per_second(runs, backend, batch, pyexec=ctx.pyexec)

    return measure


def _memory(backend: str, kind: str) -> Callable[[int, BenchContext], Awaitable[Samples]]:
    async def measure(runs: int, ctx: BenchContext) -> Samples:
        if backend not in ctx.memory:
            ctx.memory[backend] = await measure_idle_memory(backend)
        return ctx.memory[backend][kind]

    return measure


async def _scaled_latency(runs: int, ctx: BenchContext) -> Samples:
    return await measure_scaled_latency(runs, ctx.services)


async def _scaled_throughput_1(runs: int, ctx: BenchContext) -> Samples:
    return await measure_scaled_throughput(runs, ctx.services, workers=1)


async def _scaled_throughput_2(runs: int, ctx: BenchContext) -> Samples:
    return await measure_scaled_throughput(runs, ctx.services, workers=2)


async def _scaled_cancel(runs: int, ctx: BenchContext) -> Samples:
    return await measure_scaled_cancel(runs, ctx.services)


async def _client_import(runs: int, ctx: BenchContext) -> Samples:
    return await measure_client_import(runs)


async def _gateway_execute(runs: int, ctx: BenchContext) -> Samples:
    return await measure_gateway_execute(runs, await ctx.services.gateway())


async def _gateway_job(runs: int, ctx: BenchContext) -> Samples:
    return await measure_gateway_job(runs, await ctx.services.gateway())


async def _gateway_ready(runs: int, ctx: BenchContext) -> Samples:
    return await measure_gateway_kernel_ready(runs, await ctx.services.gateway())


@dataclass(frozen=True)
class Benchmark:
    key: str
    label: str
    measure: Callable[[int, BenchContext], Awaitable[Samples]]
    # Slow rows (a cold kernel per run) take --slow-runs instead of --runs.
    slow: bool = False


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("a", "jupyter_client execute 1+1, warm kernel (floor)", _raw_kernel),
    Benchmark("b", "PyExec POST /v1/jobs + GET ?wait, HTTP, warm pool", _pyexec_http),
    Benchmark("c", "papermill one-cell notebook, in-process", _papermill, slow=True),
    Benchmark("d", "kernel ready with pandas, cold local start", _ready("local"), slow=True),
    Benchmark("e", "kernel ready with pandas, fork server", _ready("forkserver")),
    Benchmark(
        "f",
        "jobs/s over HTTP, fresh kernel per job, fork server",
        _throughput("forkserver", FORK_BATCH),
        slow=True,
    ),
    Benchmark(
        "g",
        "jobs/s over HTTP, fresh kernel per job, local",
        _throughput("local", LOCAL_BATCH),
        slow=True,
    ),
    Benchmark("h", "USS per idle pooled kernel, fork server", _memory("forkserver", "uss")),
    Benchmark("i", "USS per idle pooled kernel, local", _memory("local", "uss")),
    Benchmark("j", "PSS per idle pooled kernel, fork server", _memory("forkserver", "pss")),
    Benchmark("k", "PSS per idle pooled kernel, local", _memory("local", "pss")),
    Benchmark("l", "PyExec scaled out: POST + GET ?wait, api + 1 worker", _scaled_latency),
    Benchmark("m", "scaled out: trivial jobs/s, 1 worker", _scaled_throughput_1, slow=True),
    Benchmark("n", "scaled out: trivial jobs/s, 2 workers", _scaled_throughput_2, slow=True),
    Benchmark("o", "scaled out: POST /cancel until cancelled", _scaled_cancel, slow=True),
    Benchmark("p", "gateway: execute 1+1, warm kernel (the gateway's floor)", _gateway_execute),
    Benchmark("q", "gateway backend: POST /v1/jobs + GET ?wait, HTTP, warm pool", _gateway_job),
    Benchmark("r", "gateway: kernel ready with pandas, POST to warm", _gateway_ready, slow=True),
    Benchmark("s", "import pyexec_client (client SDK), fresh venv", _client_import),
)

RATIOS: tuple[Ratio, ...] = (
    Ratio("b", "a", "<=", 5, why="(PyExec overhead over the floor; issue 19)"),
    Ratio("c", "b", ">=", 30, why="(speed-up over papermill; issue 19)"),
    Ratio("d", "e", ">=", 20, why="(fork server vs cold start)"),
    Ratio("f", "g", ">=", 1, why="(throughput, fork server vs local)"),
    Ratio("i", "h", ">=", 1, why="(unique memory, local vs fork server)"),
    Ratio("l", "b", "<=", 1.3, why="(scaled-out latency over embedded; issue 19)"),
    Ratio("n", "m", ">=", 1.0, why="(2 workers over 1, on this machine's 2 cores)"),
    Ratio("q", "p", "<=", 2.5, why="(PyExec overhead over the gateway's floor)"),
    Ratio("p", "a", "<=", 5, why="(the gateway's websocket over ZeroMQ)"),
)

GOALS: tuple[Goal, ...] = (
    # Issue 19: the job path near the protocol floor.
    Goal("b", "<=", 0.025, why="trivial job over HTTP, warm pool"),
    Goal("e", "<=", 0.030, why="fork-server kernel ready"),
    Goal("f", ">=", 25, unit="jobs/s", why="fresh isolated kernel per job"),
    Goal("h", "<=", 25, unit="MB", why="unique memory per idle kernel"),
    Goal("s", "<=", 0.5, why="the SDK imports well under a second"),
)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="runs per fast row")
    parser.add_argument(
        "--slow-runs",
        type=int,
        default=None,
        help=f"runs per slow row (default: min(--runs, {DEFAULT_SLOW_RUNS}))",
    )
    keys = ",".join(b.key for b in BENCHMARKS)
    parser.add_argument("--only", default=keys, help=f"rows to run, comma-separated ({keys})")
    parser.add_argument("--pyexec", default=None, help="command that runs the PyExec CLI")
    args = parser.parse_args(argv)
    known = {b.key for b in BENCHMARKS}
    args.only = [k.strip() for k in args.only.split(",") if k.strip()]
    if unknown := set(args.only) - known:
        parser.error(f"unknown rows {sorted(unknown)}; known: {keys}")
    if args.runs < 1 or (args.slow_runs is not None and args.slow_runs < 1):
        parser.error("runs must be at least 1")
    if args.slow_runs is None:
        args.slow_runs = min(args.runs, DEFAULT_SLOW_RUNS)
    return args


def _header() -> str:
    return (
        f"PyExec bench  {datetime.now(UTC):%Y-%m-%d %H:%M:%SZ}  "
        f"Python {platform.python_version()}  {os.cpu_count()} CPUs  {platform.platform()}"
    )


async def run(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    print(_header(), flush=True)
    ctx = BenchContext(pyexec=shlex.split(args.pyexec) if args.pyexec else None)
    rows: list[Row] = []
    try:
        for bench in BENCHMARKS:
            if bench.key not in args.only:
                continue
            runs = args.slow_runs if bench.slow else args.runs
            print(f"  ({bench.key}) {bench.label}: {runs} runs ...", end="", flush=True)
            started = time.monotonic()
            samples = await bench.measure(runs, ctx)
            print(f" {time.monotonic() - started:.1f} s", flush=True)
            rows.append(Row(bench.key, bench.label, samples))
    finally:
        await ctx.services.close()
    print()
    print(format_report(rows, RATIOS, GOALS))
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(argv))


if __name__ == "__main__":
    sys.exit(main())
