"""Exceptions raised by the kernels package.

A failure in *user* code is never raised: it is returned as data on an `Execution`.
These are failures of the system (a kernel that cannot start, is gone, or a pool that is
closed), each subclassing the closest standard exception so callers can catch broadly.
"""

from __future__ import annotations


class KernelStartError(RuntimeError):
    """A kernel could not be launched, connected to, or warmed up."""


class KernelDiedError(RuntimeError):
    """The kernel process is gone, so it cannot run anything more."""

    def __init__(self, message: str, exit_status: int | None = None) -> None:
        super().__init__(message)
        # Popen convention: >= 0 is an exit code, < 0 is minus the signal number.
        self.exit_status = exit_status


class ChannelClosedError(ConnectionError):
    """A kernel client's channel is closed: no more messages will arrive on it."""


class CellTimeoutError(TimeoutError):
    """A cell ran past its time budget (see `Execution.raise_for_status`)."""


class PoolClosedError(RuntimeError):
    """The kernel pool was closed (or never started) and cannot lease kernels."""
