"""The CPU a benchmark's work costs, read from the kernel's process accounting (psutil): what
explains a row whose goal is missed on this machine, part by part."""

from __future__ import annotations

import contextlib
import os

import psutil

__all__ = ["CpuMeter", "process_cpu", "tree_cpu"]


def _own(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _reaped(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.children_user + times.children_system


def process_cpu(pid: int) -> float:
    """CPU seconds of the process's own threads."""
    return _own(psutil.Process(pid))


def tree_cpu(pid: int) -> float:
    """CPU seconds of every process below `pid`, living or reaped (a reaped process's time is
    added to its parent's `children_*` when it is waited for), not counting `pid` itself."""
    root = psutil.Process(pid)
    total = _reaped(root)
    for child in root.children(recursive=True):
        # Gone between the listing and the read: the next reading has it in its parent's.
        with contextlib.suppress(psutil.NoSuchProcess):
            total += _own(child) + _reaped(child)
    return total


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
        self._start = (process_cpu(self.pid), tree_cpu(self.pid))

    def stop(self) -> None:
        own, below = process_cpu(self.pid), tree_cpu(self.pid)
        self.own += own - self._start[0]
        self.below += below - self._start[1]
