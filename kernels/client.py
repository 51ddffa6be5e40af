"""`KernelClient`: the part of a Jupyter client that `Kernel` uses, whatever carries it.

jupyter_client's `AsyncKernelClient` (ZeroMQ, the local backends) satisfies it as it is; the
gateway backend's websocket (`kernels.gateway.channels`) implements it. Both hand back messages
as jupyter_client does: dicts with `header` (its `date` a datetime), `parent_header`,
`metadata`, `content`, `msg_id` and `msg_type`.
"""

from __future__ import annotations

from typing import Any, Protocol


class KernelClient(Protocol):
    """Requests go out at once (no await), so a caller can subscribe to a request's replies
    before any of them can be read; replies come back through the two `get_*` coroutines,
    which raise `ChannelClosedError` (or `zmq.ZMQError`) once nothing more can arrive."""

    def execute(
        self,
        code: str,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool | None = None,
        stop_on_error: bool = True,
    ) -> str:
        """Send an execute_request; its msg_id."""
        ...

    def kernel_info(self) -> str:
        """Send a kernel_info_request; its msg_id."""
        ...

    async def get_shell_msg(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...

    async def get_iopub_msg(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...
