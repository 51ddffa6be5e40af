"""`Kernel`: one leased kernel, and running cells in it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zmq

from pyexec.kernels.cell_outputs import OUTPUT_MSG_TYPES, CellOutputCollector
from pyexec.kernels.errors import ChannelClosedError, KernelDiedError, KernelStartError
from pyexec.kernels.execution import (
    NO_REPLY_ERROR,
    Execution,
    ExecutionError,
    ExecutionStatus,
    describe_exit,
    format_seconds,
    nb_timestamp,
)
from pyexec.kernels.files import KernelFiles
from pyexec.kernels.launcher import LaunchedKernel

log = logging.getLogger(__name__)

OutputCallback = Callable[[dict[str, Any]], Awaitable[None] | None]

# How often a running cell checks that the kernel process still exists. The heartbeat
# channel would take seconds to notice a segfault; polling the process takes one tick.
ALIVE_POLL_SECONDS = 0.1
# Once either the execute_reply or the IOPub "idle" arrived, how long to wait for the other
# before giving up on it (nbclient waits similarly, with iopub_timeout). Generous: the two
# travel on different sockets and threads of the kernel, and on a starved machine (2 cores,
# the whole test suite running) a 2 s wait once gave up on two cells of one kernel in a row.
SETTLE_SECONDS = 10.0
# IOPub went idle and no execute_reply followed this soon: send the kernel another shell
# request (kernel_info), again at this interval until SETTLE_SECONDS. ipykernel 7 can leave a reply
# unsent until its shell socket sees another event (ipython/ipykernel#1554 and #1529 describe
# that edge-triggered wedge for requests): twice in this suite's runs a kernel answered no
# execute_request at all, under load. A healthy kernel answers the extra request unnoticed.
NUDGE_AFTER_SECONDS = 0.5
# After a kernel is found dead, how long to keep collecting outputs it had already sent.
DRAIN_AFTER_DEATH_SECONDS = 0.05
# Readiness: resend kernel_info if its IOPub status did not follow the reply this soon
# (the IOPub subscription was not connected yet when the kernel published it).
READY_RESEND_SECONDS = 0.2

_Routed = tuple[str, dict[str, Any]]

# The order nbclient's cell.metadata.execution has in a normal run, whatever order the
# shell and IOPub messages happened to be read in.
TIMING_KEYS = (
    "iopub.status.busy",
    "iopub.execute_input",
    "shell.execute_reply",
    "iopub.status.idle",
)


class Kernel:
    """A fresh kernel leased from the pool. Not safe for concurrent `execute` calls: they
    are serialised by a lock, in the order they were made."""

    def __init__(
        self, launched: LaunchedKernel, work_dir: Path, *, interrupt_grace: float = 3.0
    ) -> None:
        self._launched = launched
        self.work_dir = work_dir
        self.interrupt_grace = interrupt_grace
        self.language_info: dict[str, Any] = {}
        self._client = launched.client
        self._routes: dict[str, asyncio.Queue[_Routed]] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._death: KernelDiedError | None = None
        self._closed = False
        # Cells whose execute_reply came only after a nudge (NUDGE_AFTER_SECONDS).
        self.nudged_replies = 0

    @property
    def id(self) -> str:
        return self._launched.kernel_id

    @property
    def kernelspec(self) -> dict[str, str]:
        return self._launched.kernelspec

    @property
    def launched(self) -> LaunchedKernel:
        return self._launched

    @property
    def dead(self) -> bool:
        return self._death is not None

    def __repr__(self) -> str:
        return f"<Kernel {self.id} work_dir={self.work_dir}>"

    # -- lifecycle -------------------------------------------------------------------

    async def connect(self, timeout: float) -> None:
        """Wait until the kernel answers kernel_info AND its IOPub reaches us.

        A kernel_info_reply alone does not mean IOPub is connected (ZeroMQ's slow joiner):
        outputs of the first cell could be lost. The IOPub status message that accompanies
        our request proves the subscription works.
        """
        self._start_readers()
        deadline = time.monotonic() + timeout
        queue: asyncio.Queue[_Routed] = asyncio.Queue()
        sent: list[str] = []
        reply: dict[str, Any] | None = None
        got_status = False
        resend_at = 0.0
        try:
            while reply is None or not got_status:
                now = time.monotonic()
                if now >= deadline:
                    raise KernelStartError(
                        f"kernel {self.id} not ready within {format_seconds(timeout)}"
                    )
                if not await self._launched.is_alive():
                    status = await self._launched.exit_status()
                    reason = self._launched.death_reason() or describe_exit(status)
                    raise KernelStartError(f"{reason} while starting")
                if not sent or (reply is not None and now >= resend_at):
                    resend_at = now + READY_RESEND_SECONDS
                    msg_id = self._client.kernel_info()
                    self._routes[msg_id] = queue
                    sent.append(msg_id)
                try:
                    async with asyncio.timeout(ALIVE_POLL_SECONDS):
                        channel, msg = await queue.get()
                except TimeoutError:
                    continue
                if channel == "shell" and msg["msg_type"] == "kernel_info_reply":
                    if reply is None:
                        reply = msg
                        resend_at = time.monotonic() + READY_RESEND_SECONDS
                elif channel == "iopub" and msg["msg_type"] == "status":
                    got_status = True
        finally:
            for msg_id in sent:
                self._routes.pop(msg_id, None)
        self.language_info = dict(reply["content"].get("language_info", {}))
        await self._launched.connected()

    async def shutdown(self) -> None:
        """Stop the kernel and everything it started. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._readers.clear()
        # Before the kill, so a cell still running reports a shutdown, not a crash.
        if self._death is None:
            self._death = KernelDiedError("kernel was shut down")
        await self._launched.shutdown()

    async def stop(self) -> bool:
        """Kill the kernel and every process it started; it runs no cell afterwards, but its
        work dir stays until the pool throws it away. True when the backend verified that
        none of its processes is left (see `LaunchedKernel.kill`)."""
        if self._death is None:
            self._death = KernelDiedError("kernel was stopped")
        return await self._launched.kill()

    @property
    def files(self) -> KernelFiles:
        """Its work dir, as the service may touch it: inputs in before the job's code runs,
        what the job wrote out once it is over (which stops the kernel)."""
        return self._launched.files(self.work_dir, self.stop, self._evaluate_quietly)

    async def _evaluate_quietly(self, expressions: Mapping[str, str], timeout: float) -> Execution:
        # An empty silent cell: out of the history and the execution count (the user's cells
        # stay In[1], In[2]...), and its expressions skip IPython's cell transforms, which
        # take seconds per megabyte of source.
        return await self.execute(
            "", timeout=timeout, silent=True, store_history=False, user_expressions=expressions
        )

    async def is_alive(self, *, confirm: bool = False) -> bool:
        """`confirm`: a thorough look (see `LaunchedKernel.confirm_alive`), before a lease."""
        if self._death is not None:
            return False
        if confirm:
            return await self._launched.confirm_alive()
        return await self._launched.is_alive()

    async def interrupt(self) -> None:
        """Interrupt the running cell, if any. A no-op on a dead kernel."""
        if self._death is None:
            await self._launched.interrupt()

    # -- execution ---------------------------------------------------------------

    async def execute(
        self,
        code: str,
        timeout: float | None = 30.0,
        on_output: OutputCallback | None = None,
        *,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: Mapping[str, str] | None = None,
        stop: asyncio.Event | None = None,
    ) -> Execution:
        """Run `code` and return what happened. Errors in user code are data, not raised.

        `user_expressions` are evaluated by the kernel after the code, by plain `eval`: their
        display outputs are the cell's, their values and errors are not reported.
        `stop`: when it is set, the cell is interrupted (then the kernel killed, as after a
        timeout) and the execution ends `cancelled`, with the outputs it had made.
        Raises KernelDiedError only when the kernel was already dead before this call, and
        re-raises CancelledError (after interrupting the kernel) when cancelled.
        """
        async with self._lock:
            if self._death is not None:
                raise KernelDiedError(str(self._death), self._death.exit_status)
            run = _CellRun(self, code, timeout, on_output, silent, store_history, stop)
            run.user_expressions = dict(user_expressions or {})
            return await run.run()

    # -- internals ---------------------------------------------------------------

    def _start_readers(self) -> None:
        if not self._readers:
            self._readers = [
                asyncio.create_task(self._read("shell", self._client.get_shell_msg)),
                asyncio.create_task(self._read("iopub", self._client.get_iopub_msg)),
            ]

    async def _read(self, channel: str, get: Callable[..., Awaitable[dict[str, Any]]]) -> None:
        # One reader per channel for the kernel's lifetime routes each message to the
        # request that caused it; replies to abandoned requests are dropped here.
        while True:
            try:
                msg = await get()
            except (zmq.ZMQError, ChannelClosedError) as exc:
                # Normally the socket closed because the kernel is being shut down; otherwise
                # nothing more arrives on this channel, and a cell would wait in vain.
                if not self._closed:
                    log.warning("kernel %s: %s channel closed: %s", self.id, channel, exc)
                return
            except Exception:
                log.exception("kernel %s: unreadable %s message", self.id, channel)
                continue
            parent_id = (msg.get("parent_header") or {}).get("msg_id")
            queue = self._routes.get(parent_id) if parent_id else None
            if queue is not None:
                queue.put_nowait((channel, msg))

    def _subscribe(self, msg_id: str) -> asyncio.Queue[_Routed]:
        queue: asyncio.Queue[_Routed] = asyncio.Queue()
        self._routes[msg_id] = queue
        return queue

    def _unsubscribe(self, msg_id: str) -> None:
        self._routes.pop(msg_id, None)

    async def _mark_dead(self, message: str | None = None) -> KernelDiedError:
        if self._death is None:
            status = await self._launched.exit_status()
            reason = message or self._launched.death_reason() or describe_exit(status)
            self._death = KernelDiedError(reason, status)
        return self._death


# The channel name under which `execute(stop=...)` wakes its cell's wait.
_STOP = "stop"


class _CellRun:
    """The state of one `execute` call."""

    def __init__(
        self,
        kernel: Kernel,
        code: str,
        timeout: float | None,
        on_output: OutputCallback | None,
        silent: bool,
        store_history: bool,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.kernel = kernel
        self.stop = stop
        self.stopped = False
        self.code = code
        self.timeout = timeout
        self.on_output = on_output
        self.silent = silent
        self.store_history = store_history
        self.user_expressions: dict[str, str] = {}
        self.collector = CellOutputCollector()
        self.timing: dict[str, str] = {}
        self.reply: dict[str, Any] | None = None
        self.idle = False
        self.execution_count: int | None = None
        self.timed_out = False
        self.killed = False
        self.died: KernelDiedError | None = None

    async def run(self) -> Execution:
        kernel = self.kernel
        started_at = datetime.now(UTC)
        t0 = time.monotonic()
        # Sending is synchronous and the readers only run when we await, so subscribing
        # right after cannot miss a message. stop_on_error=False: with one cell at a time
        # there is never a queue worth aborting, and aborting would hit the next cell sent
        # right after an interrupted one.
        msg_id = kernel._client.execute(
            self.code,
            silent=self.silent,
            store_history=self.store_history,
            user_expressions=self.user_expressions,
            allow_stdin=False,
            stop_on_error=False,
        )
        queue = kernel._subscribe(msg_id)
        watch = None
        if self.stop is not None:
            # Wakes the wait below through the queue it already listens to.
            watch = asyncio.create_task(self.stop.wait())
            watch.add_done_callback(lambda _: queue.put_nowait((_STOP, {"msg_type": _STOP})))
        try:
            await self._wait(queue, t0)
        except asyncio.CancelledError:
            # The worker cancels jobs by cancelling this await; the kernel must stop too.
            with contextlib.suppress(Exception):
                await asyncio.shield(kernel.interrupt())
            raise
        finally:
            kernel._unsubscribe(msg_id)
            if watch is not None:
                watch.cancel()
        if (note := self.collector.finish()) is not None and self.on_output is not None:
            await self._notify(note)
        finished_at = datetime.now(UTC)
        status, error = self._outcome()
        return Execution(
            status=status,
            outputs=self.collector.outputs,
            execution_count=self.execution_count,
            error=error,
            started_at=started_at,
            finished_at=finished_at,
            duration_ms=int((time.monotonic() - t0) * 1000),
            timing={k: self.timing[k] for k in TIMING_KEYS if k in self.timing},
        )

    async def _wait(self, queue: asyncio.Queue[_Routed], t0: float) -> None:
        kernel = self.kernel
        deadline = t0 + self.timeout if self.timeout is not None else None
        grace_deadline: float | None = None
        settle_deadline: float | None = None
        nudge_at: float | None = None
        nudges = 0
        next_alive_check = t0 + ALIVE_POLL_SECONDS
        while self.reply is None or not self.idle:
            now = time.monotonic()
            if nudge_at is not None and now >= nudge_at:
                nudge_at = now + NUDGE_AFTER_SECONDS
                nudges += 1
                # Its reply (and IOPub status) go unrouted: the readers drop them.
                kernel._client.kernel_info()
            if deadline is not None and not self.timed_out and now >= deadline:
                self.timed_out = True
                grace_deadline = now + kernel.interrupt_grace
                await self._interrupt()
            if grace_deadline is not None and now >= grace_deadline:
                log.warning("kernel %s ignored an interrupt; killing it", kernel.id)
                await kernel._launched.kill()
                why = "was stopped" if self.stopped and not self.timed_out else "timed out"
                await kernel._mark_dead(f"kernel killed after a cell {why}")
                self.killed = True
                return
            if settle_deadline is not None and now >= settle_deadline:
                log.warning(
                    "kernel %s: reply and IOPub idle did not both arrive (%d nudge(s))",
                    kernel.id,
                    nudges,
                )
                return
            if now >= next_alive_check:
                next_alive_check = now + ALIVE_POLL_SECONDS
                if not await kernel._launched.is_alive():
                    await self._drain(queue)
                    self.died = await kernel._mark_dead()
                    return
            wake = min(
                t
                for t in (
                    next_alive_check,
                    deadline if not self.timed_out else None,
                    grace_deadline,
                    settle_deadline,
                    nudge_at,
                )
                if t is not None
            )
            try:
                async with asyncio.timeout(max(wake - now, 0.0)):
                    channel, msg = await queue.get()
            except TimeoutError:
                continue
            await self._handle(channel, msg)
            if self.stopped and grace_deadline is None:
                grace_deadline = time.monotonic() + kernel.interrupt_grace
            if settle_deadline is None and (self.reply is not None or self.idle):
                settle_deadline = time.monotonic() + SETTLE_SECONDS
            if self.reply is None and self.idle and nudge_at is None:
                nudge_at = time.monotonic() + NUDGE_AFTER_SECONDS
        if nudges:
            kernel.nudged_replies += 1
            log.warning(
                "kernel %s: its execute_reply came only after %d nudge(s) of its shell channel",
                kernel.id,
                nudges,
            )

    async def _interrupt(self) -> None:
        try:
            await self.kernel.interrupt()
        except Exception:
            log.exception("interrupting kernel %s failed", self.kernel.id)

    async def _drain(self, queue: asyncio.Queue[_Routed]) -> None:
        # Outputs sent just before the crash may still be on their way through the readers.
        await asyncio.sleep(DRAIN_AFTER_DEATH_SECONDS)
        while not queue.empty():
            channel, msg = queue.get_nowait()
            await self._handle(channel, msg)

    async def _handle(self, channel: str, msg: dict[str, Any]) -> None:
        msg_type = msg["msg_type"]
        if channel == _STOP:
            if not self.stopped and (self.reply is None or not self.idle):
                self.stopped = True
                await self._interrupt()
            return
        if channel == "shell":
            if msg_type == "execute_reply":
                self.reply = msg
                self._stamp("shell.execute_reply", msg)
                count = msg["content"].get("execution_count")
                if self.execution_count is None and not self.silent and count is not None:
                    self.execution_count = count
            return
        if msg_type == "status":
            state = msg["content"].get("execution_state")
            if state == "busy":
                self._stamp("iopub.status.busy", msg)
            elif state == "idle":
                self._stamp("iopub.status.idle", msg)
                self.idle = True
        elif msg_type == "execute_input":
            self._stamp("iopub.execute_input", msg)
            self.execution_count = msg["content"].get("execution_count")
        elif msg_type in OUTPUT_MSG_TYPES:
            output = self.collector.add(msg_type, msg["content"])
            if output is not None and self.on_output is not None:
                await self._notify(output)

    def _stamp(self, key: str, msg: dict[str, Any]) -> None:
        date = (msg.get("header") or {}).get("date")
        self.timing[key] = (
            nb_timestamp(date) if date is not None else nb_timestamp(datetime.now(UTC))
        )

    async def _notify(self, output: dict[str, Any]) -> None:
        assert self.on_output is not None
        try:
            result = self.on_output(output)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            # A broken listener must not leave the cell half-collected.
            log.exception("on_output callback failed")

    def _outcome(self) -> tuple[ExecutionStatus, ExecutionError | None]:
        reply_content = self.reply["content"] if self.reply is not None else {}
        reply_status = reply_content.get("status")
        if self.stopped and not self.timed_out:
            message = "the cell was stopped before it finished"
            if self.killed:
                message += "; the kernel ignored the interrupt and was killed"
            return "cancelled", ExecutionError.synthetic("CellStopped", message)
        if self.died is not None:
            message = str(self.died)
            return "died", ExecutionError.synthetic("KernelDiedError", message)
        if self.timed_out and (self.killed or reply_status != "ok"):
            assert self.timeout is not None
            message = f"cell timed out after {format_seconds(self.timeout)}"
            if self.killed:
                message += "; the kernel ignored the interrupt and was killed"
            traceback = [str(t) for t in reply_content.get("traceback") or []]
            return "timeout", ExecutionError.synthetic("CellTimeoutError", message, traceback)
        if reply_status == "ok":
            return "ok", None
        if reply_status == "error":
            return "error", ExecutionError.from_content(reply_content, self.execution_count)
        if reply_status == "aborted":
            return "cancelled", ExecutionError.synthetic(
                "ExecutionAborted", "the kernel aborted the cell"
            )
        # A reply with an unknown status, or IOPub went idle and no reply ever came.
        if self.reply is None:
            return "error", ExecutionError.synthetic(
                NO_REPLY_ERROR, "the kernel sent no reply for the cell"
            )
        return "error", ExecutionError.from_content(reply_content, self.execution_count)
