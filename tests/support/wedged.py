"""Cell code that makes a real ipykernel withhold its execute_replies, as ipykernel 7's
edge-triggered shell socket can (kernels.kernel.NUDGE_AFTER_SECONDS), for the kernel test
modules."""

from __future__ import annotations


def withhold_replies(*, until_next_request: bool) -> str:
    """From this cell's own reply on, execute_replies are not sent: at all, or only once
    another shell request (such as kernel_info) reaches the kernel, which then sends them."""
    release = (
        """
_kernel_info = _kernel.shell_handlers["kernel_info_request"]
async def _releasing(*args, **kwargs):
    while _withheld:
        _stream, _args, _kwargs = _withheld.pop(0)
        _send(_stream, "execute_reply", *_args, **_kwargs)
    return await _kernel_info(*args, **kwargs)
_kernel.shell_handlers["kernel_info_request"] = _releasing
"""
        if until_next_request
        else ""
    )
    return f"""\
_kernel = get_ipython().kernel
_send, _withheld = _kernel.session.send, []
def _withholding(stream, msg_or_type, *args, **kwargs):
    if msg_or_type != "execute_reply":
        return _send(stream, msg_or_type, *args, **kwargs)
    _withheld.append((stream, args, kwargs))
    return {{"content": {{"status": "ok"}}}}
_kernel.session.send = _withholding
{release}"""
