"""`ForkServer`: the service's side of one zygote: start it, ask it to fork, follow its children.

The zygote is started on first use and again after it died (its kernels die with it and are
reported as killed). The kernels it forks are not children of the service, so everything about
them (signals, whether they are alive, how they ended) goes through the zygote, which alone
can tell a live child from a reaped pid that someone else may already reuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import select
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyexec.kernels import telemetry
from pyexec.kernels.errors import KernelStartError
from pyexec.kernels.forkserver import protocol

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 120.0
REQUEST_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0
# How often a wait for a kernel's exit looks at the process itself, in case no report comes.
EXIT_CHECK_SECONDS = 1.0
# What the zygote's own environment holds: nothing of the service's.
ZYGOTE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONNOUSERSITE": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "MPLBACKEND": "Agg",
    # debugpy (imported with ipykernel) warns about frozen modules on stderr otherwise.
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    # Fewer malloc arenas: every thread of every kernel would otherwise dirty one of its own.
    "MALLOC_ARENA_MAX": "2",
}

Wrap = Callable[[Sequence[str]], list[str]]


class ForkServerError(KernelStartError):
    """The zygote could not be started, or it refused or failed a request."""


class ZygoteGoneError(ForkServerError):
    """The zygote exited before it answered: a fresh one may well succeed."""


class ForkServer:
    def __init__(
        self,
        python: str = sys.executable,
        *,
        wrap: Wrap | None = None,
        warmup: str = "",
        prepare: str = "",
        start_timeout: float = START_TIMEOUT_SECONDS,
        home: str | None = None,
    ) -> None:
        """`warmup`, then `prepare`: what each kernel runs before it answers (the warm-up that
        every backend's kernels run, then the pool's preparation). `home`: the zygote's HOME,
        where libraries keep caches (matplotlib's font list); somewhere its kernels cannot
        see, not the service's own home."""
        self.python = python
        self.home = home
        self.wrap = wrap or list
        self.warmup = warmup
        self.prepare = prepare
        self.start_timeout = start_timeout
        self.info: dict[str, Any] = {}
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        # One per zygote started: a dead zygote's reader may still be reaping it.
        self._readers: set[asyncio.Task[None]] = set()
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._live: set[int] = set()
        # Counts the zygotes lost: a child counts as live only if its zygote still is.
        self._generation = 0
        # The current zygote's pidfd, polled to see its process ended, and its /proc stat file
        # kept open, read to see its main thread died (_zygote_exited).
        self._zygote_pidfd: int | None = None
        self._zygote_exit: select.poll | None = None
        self._zygote_stat: int | None = None
        self._exits: dict[int, int] = {}
        self._exited = asyncio.Event()
        self._setup_errors: dict[int, str] = {}
        self._inits: dict[int, int] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def pid(self) -> int | None:
        return self.info.get("pid") if self._proc is not None else None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Start the zygote if it is not running, and wait until it is warm."""
        async with self._lock:
            if self._closed:
                raise ForkServerError("the fork server is closed")
            proc = self._proc
            if proc is not None:
                alive = proc.returncode is None
                if alive and self._writer is not None and not self._writer.is_closing():
                    return
                # Exited or cut off before its reader saw EOF: forget it before starting the
                # next, so that its reader's EOF cannot count against the new one.
                self._abandon(
                    proc, "the fork server exited" if not alive else "its control connection broke"
                )
            await self._start()

    async def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        zygote = "pyexec.kernels.forkserver.zygote"
        command = self.wrap([self.python, "-m", zygote, str(theirs.fileno())])
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command,
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                env={**ZYGOTE_ENV, "HOME": self.home or "/nonexistent"},
                cwd="/",
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise ForkServerError(f"cannot start the fork server: {exc}") from exc
        finally:
            theirs.close()
        reader, self._writer = await asyncio.open_unix_connection(
            sock=ours, limit=protocol.MAX_LINE
        )
        reader_task = asyncio.create_task(self._read(reader, self._proc))
        self._readers.add(reader_task)
        reader_task.add_done_callback(self._readers.discard)
        configure = {"op": protocol.CONFIGURE, "warmup": self.warmup, "prepare": self.prepare}
        self._writer.write(protocol.encode(configure))
        try:
            async with asyncio.timeout(self.start_timeout):
                self.info = await asyncio.shield(self._ready)
            self._watch_zygote(self.info["pid"])
        except TimeoutError:
            await self._stop()
            raise ForkServerError(
                f"the fork server was not ready within {self.start_timeout:g} s"
            ) from None
        except ForkServerError:
            await self._stop()
            raise
        log.info(
            "fork server %s warm in %.2f s (%d modules, %d learned by rehearsal)",
            self.info.get("pid"),
            self.info.get("seconds", 0),
            self.info.get("preloaded", 0),
            self.info.get("learned", 0),
        )

    async def close(self) -> None:
        self._closed = True
        async with self._lock:
            await self._stop()

    async def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if self._writer is not None:
            # Closing the socket is the zygote's signal to exit; its kernels die with it.
            # Aborted, not closed: a close waits to flush to a peer that may never read.
            self._writer.transport.abort()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                    await self._writer.wait_closed()
            self._writer = None
        if proc is not None and proc.returncode is None:
            try:
                async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                try:
                    async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                        await proc.wait()
                except TimeoutError:
                    log.error("fork server %s did not exit after SIGKILL", proc.pid)
        readers = list(self._readers)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        self._zygote_gone("the fork server stopped")

    # -- requests ------------------------------------------------------------------

    async def spawn(
        self,
        *,
        kernel_id: str,
        connection_file: str,
        cwd: str,
        env: Mapping[str, str],
        jail: str,
        log_file: str | None,
    ) -> int:
        """Fork a kernel; returns its pid (a child of the zygote, not of this process)."""
        request = {
            "op": protocol.SPAWN,
            "kernel_id": kernel_id,
            "connection_file": connection_file,
            "cwd": cwd,
            "env": dict(env),
            "jail": jail,
            "log_file": log_file,
        }
        # A zygote killed around the request (the OOM killer, an operator) is worth one
        # fresh try before the kernel start counts as failed.
        for last_try in (False, True):
            await self.start()
            generation = self._generation
            try:
                reply = await self._request(request)
            except ZygoteGoneError:
                if last_try:
                    raise
                continue
            pid = int(reply["pid"])
            if generation == self._generation:
                self._live.add(pid)
                if "init" in reply:
                    self._inits[pid] = int(reply["init"])
                return pid
            # Its zygote died after answering: the child died with it, and nobody would
            # ever report its exit.
        raise ZygoteGoneError("the fork server exited right after forking, twice")

    async def signal(self, pid: int, signum: int) -> bool:
        """Signal the kernel's process group; False if it is already gone."""
        if pid not in self._live:
            return False
        try:
            reply = await self._request({"op": protocol.SIGNAL, "pid": pid, "signal": signum})
        except ForkServerError:
            return False
        return bool(reply.get("ok"))

    def exit_status(self, pid: int) -> int | None:
        """None while the kernel runs; then how it ended (Popen returncode convention)."""
        if pid in self._live and self._proc is not None and self._zygote_exited():
            # The zygote is dead, and its kernels with it (PR_SET_PDEATHSIG), though its
            # connection's EOF may not be read yet (a loaded machine reads it late): a kernel
            # leased now would die in the job's first cell.
            self._abandon(self._proc, "the fork server exited")
        if pid in self._live:
            return None
        return self._exits.get(pid, -signal.SIGKILL)

    def setup_error(self, pid: int) -> str | None:
        return self._setup_errors.get(pid)

    def namespace_init(self, pid: int) -> int | None:
        """The kernel that `pid` forked into a PID namespace of its own (`kernels.jail`), as
        the zygote saw it: `pid` only waits for it."""
        return self._inits.get(pid)

    async def wait(self, pid: int) -> int:
        while (status := self.exit_status(pid)) is None:
            self._exited.clear()
            if pid not in self._live:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(EXIT_CHECK_SECONDS):
                    await self._exited.wait()
            if pid in self._live and _gone(pid):
                # Dead (or a zombie its zygote never reported): the pid cannot belong to
                # anyone else until it is reaped, so waiting on would only hang the caller.
                log.warning("forked kernel %s ended without an exit report", pid)
                self._live.discard(pid)
                self._exits.setdefault(pid, -signal.SIGKILL)
        return status

    def forget(self, pid: int) -> None:
        self._exits.pop(pid, None)
        self._setup_errors.pop(pid, None)
        self._inits.pop(pid, None)

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        writer = self._writer
        if writer is None or self._proc is None or writer.is_closing():
            raise ZygoteGoneError("the fork server is not running")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(protocol.encode({**message, "id": request_id}))
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                reply = await future
        except TimeoutError:
            raise ForkServerError(f"the fork server did not answer {message['op']}") from None
        finally:
            self._pending.pop(request_id, None)
        if "error" in reply:
            raise ForkServerError(f"the fork server could not {message['op']}: {reply['error']}")
        return reply

    # -- events ----------------------------------------------------------------------

    async def _read(self, reader: asyncio.StreamReader, proc: asyncio.subprocess.Process) -> None:
        try:
            while line := await reader.readline():
                try:
                    self._dispatch(protocol.decode(line))
                except (ValueError, KeyError, TypeError):
                    log.exception("fork server sent an unreadable message: %r", line[:200])
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            log.exception("lost the fork server's control connection")
        # EOF: the zygote exited (or closed its end). Its kernels die with it, at once
        # (PR_SET_PDEATHSIG): say so before anything else can lease one of them, and
        # forget it now rather than once it is reaped, which a loaded machine delays:
        # until then start() would take the dead zygote for a live one.
        if self._proc is proc:
            self._abandon(proc, "the fork server exited")
        status = await proc.wait()
        log.info("fork server %s exited (status %s)", proc.pid, status)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            future = self._pending.get(int(message["id"]))
            if future is not None and not future.done():
                future.set_result(message)
            return
        event = message.get("event")
        if event == protocol.EXIT:
            pid = int(message["pid"])
            self._live.discard(pid)
            self._exits[pid] = int(message["status"])
            self._exited.set()
        elif event == protocol.SETUP:
            error = message.get("error")
            if error:
                pid = int(message["pid"])
                self._setup_errors[pid] = str(error)
                log.warning("forked kernel %s could not start: %s", pid, error)
        elif event == protocol.READY and self._ready is not None and not self._ready.done():
            if "error" in message:
                self._ready.set_exception(
                    ForkServerError(f"the fork server failed to warm up: {message['error']}")
                )
            else:
                self._ready.set_result(message)

    def _abandon(self, proc: asyncio.subprocess.Process, why: str) -> None:
        """Forget the current zygote at once (the next launch starts another) and kill
        whatever of it is left (bwrap's monitor, a zygote that lost its connection)."""
        self._proc = None
        if not self._closed:
            self.restarts += 1
            telemetry.report().zygote_restarted()
            log.warning(
                "fork server %s is gone (%s); its kernels died with it; "
                "it restarts on the next launch",
                self.info.get("pid"),
                why,
            )
        if self._writer is not None:
            # Its reader ends now, even while a child not yet out of the fork holds the
            # zygote's end of the socket open.
            self._writer.transport.abort()
            self._writer = None
        # Even when the leader (bwrap) is already reaped: the zygote inside it may live on.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._zygote_gone(why)

    def _watch_zygote(self, pid: int) -> None:
        self._unwatch_zygote()
        with contextlib.suppress(OSError):  # gone already, or no pidfds: see _zygote_exited
            self._zygote_pidfd = os.pidfd_open(pid)
            self._zygote_exit = select.poll()
            self._zygote_exit.register(self._zygote_pidfd, select.POLLIN)
        with contextlib.suppress(OSError):
            # Bound to this process: a reused pid cannot answer for it.
            self._zygote_stat = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)

    def _zygote_exited(self) -> bool:
        """Asked on every look at a live kernel: a poll(2) and a pread(2) (~5 us), no open.

        Its kernels die with the zygote's main thread (PR_SET_PDEATHSIG), which is a zombie at
        once; the pidfd turns readable only when the last of its threads is gone, after the
        address space's teardown (10-20 ms, longer on a loaded machine, which is when a pool
        lends a dead kernel in between). Neither waits on this event loop, as the
        connection's EOF does."""
        if self._zygote_exit is not None and self._zygote_exit.poll(0):
            return True
        if self._zygote_stat is None:
            return _gone(self.info["pid"])
        try:
            stat = os.pread(self._zygote_stat, 512, 0)
        except ProcessLookupError:
            return True
        return _stat_state(stat) in _DEAD_STATES

    def _unwatch_zygote(self) -> None:
        if self._zygote_pidfd is not None:
            os.close(self._zygote_pidfd)
        if self._zygote_stat is not None:
            os.close(self._zygote_stat)
        self._zygote_pidfd = self._zygote_exit = self._zygote_stat = None

    def _zygote_gone(self, why: str) -> None:
        self._unwatch_zygote()
        self._generation += 1
        for pid in self._live:
            self._exits.setdefault(pid, -signal.SIGKILL)
        self._live.clear()
        self._exited.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ZygoteGoneError(why))
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ForkServerError(why))


_DEAD_STATES = (b"Z", b"X", b"")


def _stat_state(stat: bytes) -> bytes:
    """The state letter of a /proc/PID/stat line (after the command, which may hold ")")."""
    fields = stat.rpartition(b")")[2].split()
    return fields[0] if fields else b""


def _gone(pid: int) -> bool:
    """The process has exited (no such pid, or a zombie not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return _stat_state(stat.read()) in _DEAD_STATES
    except (FileNotFoundError, ProcessLookupError):
        return True
