"""The CPU a benchmark's work costs, read from the kernel's process accounting (psutil): what
explains a row whose goal is missed on this machine, part by part."""

from __future__ import annotations

import contextlib
import os

import psutil

__all__ = ["CpuMeter", "read_cpu"]


def read_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of `pid`'s own threads, and of every process below it, living or reaped
    (a reaped process's time is added to its parent's `children_*` when it is waited for)."""
    root = psutil.Process(pid)
    times = root.cpu_times()
    below = times.children_user + times.children_system
    for child in root.children(recursive=True):
        # Gone between the listing and the read: the next reading has it in its parent's.
        with contextlib.suppress(psutil.NoSuchProcess):
            t = child.cpu_times()
            below += t.user + t.system + t.children_user + t.children_system
    return times.user + times.system, below


class CpuMeter:
    """CPU spent between `start()` and `stop()` by a process and by its descendants.

    A descendant that ends in between moves its time to its parent's `children_*`, so the
    difference of two readings counts it once, as long as its parent waits for it."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid if pid is not None else os.getpid()
        self.own = 0.0
        self.below = 0.0
        self._start = (0.0, 0.0)

    def start(self) -> None:
        self._start = read_cpu(self.pid)

    def stop(self) -> None:
        own, below = read_cpu(self.pid)
        self.own += own - self._start[0]
        self.below += below - self._start[1]
