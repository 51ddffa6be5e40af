"""Waiting for kernel processes to come and go, shared by the kernel test modules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import psutil


# Generous: a condition that needs a kernel started or torn down takes seconds on a loaded
# machine (two busy loops beside the suite on 2 cores), not the usual tens of milliseconds.
async def eventually(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
