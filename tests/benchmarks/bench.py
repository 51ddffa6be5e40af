"""`make bench`: PyExec's latency beside its floor (raw jupyter_client) and papermill.

    .venv/bin/python -m tests.benchmarks.bench [--runs 50] [--slow-runs 10] [--only a,c]
        [--pyexec "CMD"]    # how to run the service's CLI; default: the venv's `pyexec`

Each row is one `Benchmark` below; a new measurement (fork-server kernel start, jobs/s,
memory) is one more async function returning `Samples` and one more entry in BENCHMARKS.
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

from tests.benchmarks.papermill_cold import measure_papermill
from tests.benchmarks.pyexec_service import measure_pyexec_http
from tests.benchmarks.raw_kernel import measure_raw_kernel
from tests.benchmarks.results import Ratio, Row, Samples, format_report
from tests.benchmarks.scaled_service import (
    SharedServices,
    measure_scaled_cancel,
    measure_scaled_latency,
    measure_scaled_throughput,
)

DEFAULT_RUNS = 50
DEFAULT_SLOW_RUNS = 10


@dataclass(frozen=True)
class BenchContext:
    """What the command line says beyond run counts, for the rows that need it."""

    pyexec: list[str] | None = None
    services: SharedServices = field(default_factory=SharedServices)


async def _raw_kernel(runs: int, ctx: BenchContext) -> Samples:
    return await measure_raw_kernel(runs)


async def _pyexec_http(runs: int, ctx: BenchContext) -> Samples:
    return await measure_pyexec_http(runs, pyexec=ctx.pyexec)


async def _papermill(runs: int, ctx: BenchContext) -> Samples:
    return await measure_papermill(runs)


async def _scaled_latency(runs: int, ctx: BenchContext) -> Samples:
    return await measure_scaled_latency(runs, ctx.services)


async def _scaled_throughput_1(runs: int, ctx: BenchContext) -> Samples:
    return await measure_scaled_throughput(runs, ctx.services, workers=1)


async def _scaled_throughput_2(runs: int, ctx: BenchContext) -> Samples:
    return await measure_scaled_throughput(runs, ctx.services, workers=2)


async def _scaled_cancel(runs: int, ctx: BenchContext) -> Samples:
    return await measure_scaled_cancel(runs, ctx.services)


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
    Benchmark("d", "PyExec scaled out: POST + GET ?wait, api + 1 worker", _scaled_latency),
    Benchmark("e", "scaled out: trivial jobs/s, 1 worker", _scaled_throughput_1, slow=True),
    Benchmark("f", "scaled out: trivial jobs/s, 2 workers", _scaled_throughput_2, slow=True),
    Benchmark("g", "scaled out: POST /cancel until cancelled", _scaled_cancel, slow=True),
)

RATIOS: tuple[Ratio, ...] = (
    Ratio("b", "a", "<=", 2.5, why="(PyExec overhead over the floor)"),
    Ratio("c", "b", ">=", 40, why="(speed-up over papermill)"),
    Ratio("d", "b", "<=", 1.5, why="(scaled-out latency over embedded)"),
    Ratio("f", "e", ">=", 1.0, why="(2 workers over 1, on this machine's 2 cores)"),
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
    print(format_report(rows, RATIOS))
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(argv))


if __name__ == "__main__":
    sys.exit(main())
