"""What the kernels package tells its user as it runs: kernel starts (and how long they took),
failed starts, fork-server restarts and gateway errors.

The package knows no metrics library (it could be published on its own): the process that
uses it installs a listener with `listen()` (PyExec's worker: `core.metrics.KernelMetrics`);
until then, nothing is reported. A listener is called synchronously on the event loop and
must not block or raise.
"""

from __future__ import annotations

from typing import Protocol


class KernelTelemetry(Protocol):
    def kernel_started(self, backend: str, seconds: float) -> None: ...

    def kernel_start_failed(self, backend: str) -> None: ...

    def zygote_restarted(self) -> None: ...

    def gateway_error(self, kind: str) -> None: ...


class Silent:
    """Reports nothing: the listener until one is installed."""

    def kernel_started(self, backend: str, seconds: float) -> None:
        return None

    def kernel_start_failed(self, backend: str) -> None:
        return None

    def zygote_restarted(self) -> None:
        return None

    def gateway_error(self, kind: str) -> None:
        return None


_listener: KernelTelemetry = Silent()


def listen(listener: KernelTelemetry) -> None:
    """Send this process's kernel events to `listener` (one per process; the last one wins)."""
    global _listener
    _listener = listener


def report() -> KernelTelemetry:
    return _listener
