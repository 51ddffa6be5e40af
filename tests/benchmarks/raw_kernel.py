"""(a) The floor: `1+1` on a started, warm kernel straight through jupyter_client."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from tests.benchmarks.results import Samples

__all__ = ["QUIET_KERNEL_ARGS", "measure_raw_kernel", "warm_kernel"]

KERNEL_READY_TIMEOUT_SECONDS = 60.0
CELL_TIMEOUT_SECONDS = 30.0
WARMUP_RUNS = 5
# ipykernel warns about unencrypted TCP on every start; errors still show.
QUIET_KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]


@asynccontextmanager
async def warm_kernel(kernel_name: str = "python3") -> AsyncIterator[AsyncKernelClient]:
    """A started kernel whose channels are connected; always shut down on exit."""
    km = AsyncKernelManager(kernel_name=kernel_name)
    await km.start_kernel(extra_arguments=QUIET_KERNEL_ARGS)
    kc = km.client()
    try:
        kc.start_channels()
        await kc.wait_for_ready(timeout=KERNEL_READY_TIMEOUT_SECONDS)
        yield kc
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


async def _execute(kc: AsyncKernelClient, code: str) -> None:
    # Done means what nbclient waits for: the execute_reply and the kernel back to idle.
    reply = await kc.execute_interactive(
        code, timeout=CELL_TIMEOUT_SECONDS, output_hook=lambda _msg: None
    )
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r} failed on the kernel: {reply['content']}")


async def measure_raw_kernel(runs: int) -> Samples:
    async with warm_kernel() as kc:
        for _ in range(WARMUP_RUNS):
            await _execute(kc, "1+1")
        values: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            await _execute(kc, "1+1")
            values.append(time.perf_counter() - start)
    return Samples(values)
