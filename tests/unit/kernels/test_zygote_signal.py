"""The zygote signals a kernel it forked even before the kernel leads its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time

from pyexec.kernels.forkserver.zygote import Zygote


def test_a_child_not_yet_in_its_own_group_is_still_signalled() -> None:
    # The child has not called setsid() yet: killpg(pid) finds no such group. A loaded CI
    # machine showed this (a kernel SIGKILLed right after its spawn lived on).
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(60)
        finally:
            os._exit(0)
    control, other = socket.socketpair()
    try:
        zygote = Zygote(control, warmup="")
        zygote.children.add(pid)
        assert os.getpgid(pid) != pid
        assert zygote._signal({"pid": pid, "signal": signal.SIGKILL})
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
        # Once reaped, the pid may be someone else's: never signalled.
        zygote.children.discard(pid)
        assert not zygote._signal({"pid": pid, "signal": signal.SIGKILL})
    finally:
        control.close()
        other.close()
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
