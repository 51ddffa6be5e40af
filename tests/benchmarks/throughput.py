"""(f, g) sustained throughput: trivial code jobs over HTTP, a fresh kernel for every job.

Each sample submits a batch of jobs at once to a real `pyexec serve` and times the batch
from the first POST until the last job is final: jobs per second. The pool size is the
service's default, so concurrency is what a default deployment gets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import httpx

from tests.benchmarks.pyexec_service import HTTP_TIMEOUT_SECONDS, pyexec_server, run_code_job
from tests.benchmarks.results import Cost, Samples

__all__ = ["measure_jobs_per_second"]

WARMUP_BATCHES = 1


async def measure_jobs_per_second(
    runs: int, backend: str, batch: int, pyexec: Sequence[str] | None = None
) -> Samples:
    env = {"PYEXEC_KERNEL_BACKEND": backend}
    async with pyexec_server(pyexec, env=env) as server:
        headers = {"Authorization": f"Bearer {server.api_key}"}
        limits = httpx.Limits(max_connections=batch + 4, max_keepalive_connections=batch + 4)
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS, limits=limits
        ) as client:
            values: list[float] = []
            meter = server.cpu_meter()
            for i in range(WARMUP_BATCHES + runs):
                if i == WARMUP_BATCHES:
                    meter.start()
                start = time.perf_counter()
                await asyncio.gather(*(run_code_job(client, f"print({n})") for n in range(batch)))
                elapsed = time.perf_counter() - start
                if i >= WARMUP_BATCHES:
                    values.append(batch / elapsed)
            meter.stop()
    jobs = batch * runs
    cost = Cost({"service": meter.own / jobs, "kernels": meter.below / jobs})
    note = f"batches of {batch}, default pool size"
    return Samples(values, unit="jobs/s", note=note, cost=cost)
