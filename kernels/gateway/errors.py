"""What can go wrong talking to an Enterprise Gateway, each error saying what to do about it.

They subclass `KernelStartError`: the pool reports them as they are when kernels cannot be
started, and a caller can catch the one it can act on.
"""

from __future__ import annotations

from pyexec.kernels.errors import KernelStartError


class GatewayError(KernelStartError):
    """The gateway answered with an error, or not as its protocol says."""

    kind = "other"  # a bounded name for metrics (kernels.telemetry)

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GatewayUnreachableError(GatewayError, ConnectionError):
    """No connection to the gateway (wrong URL, not running, network down)."""

    kind = "unreachable"


class GatewayAuthError(GatewayError, PermissionError):
    """The gateway refused our token (401) or this user (403)."""

    kind = "auth"


class GatewayLimitError(GatewayAuthError):
    """The gateway refused a kernel because a limit was reached (403: max kernels, per user)."""

    kind = "limit"


class GatewayLaunchTimeoutError(GatewayError, TimeoutError):
    """The gateway did not get a kernel running within the launch timeout."""

    kind = "launch_timeout"


class KernelSpecNotFoundError(GatewayError, LookupError):
    """The gateway has no kernelspec of the configured name."""

    kind = "kernelspec"
