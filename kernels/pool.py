"""`KernelPool`: fresh, warmed kernels, started ahead of need and thrown away after use.

Kernels that cannot start are retried with a growing delay; the pool says why as it goes
(`health`: how many starts failed in a row, and the last error), and once a few starts in a
row have failed it logs one ERROR line with the error and what to check. A worker asks
`wait_usable()` before it takes a job, so that jobs wait in their queue (nothing lost) while
no kernel can start, and run once kernels start.

Each pool works in a directory of its own in the work root (`kernels.workroot`) and, as it
starts, deletes what crashed pools left there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pyexec.kernels import telemetry
from pyexec.kernels.env import TMP_DIRNAME, build_kernel_env
from pyexec.kernels.errors import KernelStartError, PoolClosedError
from pyexec.kernels.execution import format_seconds
from pyexec.kernels.kernel import Kernel
from pyexec.kernels.launcher import KernelLauncher, LaunchedKernel
from pyexec.kernels.warmup import WARMUP_CODE
from pyexec.kernels.workroot import PoolDir, remove_tree, sweep

log = logging.getLogger(__name__)

# Retry delays after failed starts: 0.5 s doubling up to 30 s, reset by a success.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
# A lease stops waiting and raises once this many starts failed in a row (and none is idle):
# a broken interpreter or a full disk should fail jobs clearly, not hang them.
LEASE_FAIL_AFTER = 3
# After this many starts failed in a row, one ERROR line says what failed and what to check.
LOG_ERROR_AFTER = 3
IDLE_CHECK_SECONDS = 1.0
REFILL_DELAY_SECONDS = 0.05


@dataclass(frozen=True)
class PoolHealth:
    """How the pool's kernel starts are going, for people (and /readyz)."""

    # "ready", "starting" (no kernel yet, none failed), "failing" or "closed".
    state: str
    failed_starts_in_a_row: int
    last_start_error: str | None
    idle: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class KernelPool:
    """Keeps `size` kernels started and warmed; each lease gets one and then destroys it.

    All methods must be called from one event loop.
    """

    def __init__(
        self,
        size: int,
        launcher: KernelLauncher,
        work_root: Path,
        max_leases: int | None = None,
        start_timeout: float = 60.0,
        interrupt_grace: float = 3.0,
        prepare_code: str = "",
    ) -> None:
        """`prepare_code`: what every kernel runs (silently, after its warm-up) before it is
        lent: the caller's per-job set-up that no job changes, done ahead of the lease. A
        launcher that can run it in the kernel before it answers does (the fork server: no
        round trip, and a failure fails the start); else the pool sends it, and a failure
        is logged while the kernel is still lent."""
        if size < 1:
            raise ValueError("size must be at least 1")
        if max_leases is not None and max_leases < 1:
            raise ValueError("max_leases must be at least 1")
        self.size = size
        self.launcher = launcher
        self.work_root = Path(work_root)
        self.max_leases = max_leases if max_leases is not None else size
        self.start_timeout = start_timeout
        self.interrupt_grace = interrupt_grace
        self.prepare_code = prepare_code
        self._prepared_at_launch = False
        self._slots = asyncio.Semaphore(self.max_leases)
        self._changed = asyncio.Condition()
        self._idle: deque[Kernel] = deque()
        self._leased: set[Kernel] = set()
        self._starting: set[asyncio.Task[None]] = set()
        self._disposing: set[asyncio.Task[None]] = set()
        self._waiting = 0
        self._started_total = 0
        self._failed_starts = 0
        self._consecutive_failures = 0
        self._last_start_error: BaseException | None = None
        self._error_logged = False  # this streak of failures was told at ERROR level
        self._dir: PoolDir | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._refill_timer: asyncio.TimerHandle | None = None
        self._started = False
        self._closed = False

    # -- public ------------------------------------------------------------------

    async def start(self) -> None:
        """Run the launcher's start-up checks (they raise for a misconfigured backend), take
        this pool's dir in the work root (deleting what crashed pools left there), then begin
        filling the pool in the background."""
        if self._closed:
            raise PoolClosedError("the pool is closed")
        if self._started:
            return
        if self.prepare_code:
            self._prepared_at_launch = self.launcher.prepare_in_kernel(self.prepare_code)
        await self.launcher.start()
        self._started = True
        self._dir = await asyncio.to_thread(self._claim_work_dir)
        self._monitor = asyncio.create_task(self._watch_idle(), name="kernel-pool-monitor")
        self._fill()

    async def wait_ready(self, timeout: float | None = 60.0) -> None:
        """Wait until at least one warm kernel is idle; TimeoutError otherwise."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: bool(self._idle) or self._closed)
        except TimeoutError:
            last = self._last_start_error
            detail = f" (last start error: {last})" if last else ""
            raise TimeoutError(
                f"no kernel ready within {format_seconds(timeout or 0)}{detail}"
            ) from None
        if self._closed:
            raise PoolClosedError("the pool is closed")

    @property
    def ready(self) -> bool:
        """Healthy: started, not closed, has warmed a kernel, and the last start worked.

        Deliberately not "a kernel is idle right now", which flaps under load.
        """
        return (
            self._started
            and not self._closed
            and self._started_total > 0
            and self._consecutive_failures == 0
        )

    @property
    def health(self) -> PoolHealth:
        last = self._last_start_error
        if self._closed:
            state = "closed"
        elif self._consecutive_failures:
            state = "failing"
        elif self._started_total:
            state = "ready"
        else:
            state = "starting"
        return PoolHealth(
            state=state,
            failed_starts_in_a_row=self._consecutive_failures,
            last_start_error=str(last) if last is not None else None,
            idle=len(self._idle),
        )

    async def wait_usable(self) -> None:
        """Wait until a lease would not wait on a broken start: a warm kernel is idle, or
        kernels start fine. A worker calls this before it takes a job off its queue, so that
        no job is taken (and its time spent) while no kernel can start. PoolClosedError if
        the pool closes meanwhile."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._closed or bool(self._idle) or self.ready)
        if self._closed:
            raise PoolClosedError("the pool is closed")

    @property
    def stats(self) -> dict[str, int]:
        return {
            "idle": len(self._idle),
            "leased": len(self._leased),
            "starting": len(self._starting),
            "started_total": self._started_total,
            "failed_starts": self._failed_starts,
        }

    @contextlib.asynccontextmanager
    async def lease(self, timeout: float | None = None) -> AsyncIterator[Kernel]:
        """Borrow a fresh kernel; it is destroyed when the block exits, however it exits
        (in the background: the block's exit does not wait for it).

        Waits for a free slot (at most `max_leases` at once) and a warm kernel; `timeout`
        bounds that wait (TimeoutError). Raises KernelStartError if kernels keep failing
        to start, PoolClosedError if the pool is closed.
        """
        if not self._started or self._closed:
            raise PoolClosedError("the pool is closed" if self._closed else "call start() first")
        async with asyncio.timeout(timeout):
            await self._slots.acquire()
            try:
                kernel = await self._take()
            except BaseException:
                self._slots.release()
                raise
        try:
            yield kernel
        finally:
            self._leased.discard(kernel)
            # Thrown away in the background: the caller's result need not wait for the
            # process to die and its directory to go (a task, so no cancellation can leave
            # the kernel running, and close() waits for it). The slot is free only once the
            # kernel is gone, so that `max_leases` bounds the live kernels.
            self._dispose_soon(kernel).add_done_callback(lambda _: self._slots.release())

    async def close(self) -> None:
        """Shut down every kernel, idle and leased, and stop refilling. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._refill_timer is not None:
            self._refill_timer.cancel()
        tasks = [*self._starting, *([self._monitor] if self._monitor else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        kernels = [*self._idle, *self._leased]
        self._idle.clear()
        await asyncio.gather(*(self._dispose(k) for k in kernels), return_exceptions=True)
        await asyncio.gather(*self._disposing, return_exceptions=True)
        async with self._changed:
            self._changed.notify_all()
        await self.launcher.close()
        if self._dir is not None:
            await asyncio.to_thread(self._dir.release)

    async def __aenter__(self) -> KernelPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- taking and giving back ----------------------------------------------------

    async def _take(self) -> Kernel:
        self._waiting += 1
        try:
            self._fill()
            async with self._changed:
                while True:
                    if self._closed:
                        raise PoolClosedError("the pool is closed")
                    while self._idle:
                        kernel = self._idle.popleft()
                        try:
                            alive = await kernel.is_alive(confirm=True)
                        except BaseException:
                            self._idle.appendleft(kernel)
                            raise
                        if alive:
                            self._leased.add(kernel)
                            return kernel
                        log.warning("idle kernel %s had died; discarding it", kernel.id)
                        self._dispose_soon(kernel)
                    if self._consecutive_failures >= LEASE_FAIL_AFTER:
                        raise KernelStartError(
                            f"{self._consecutive_failures} kernel starts failed in a row; "
                            f"last error: {self._last_start_error}"
                        )
                    await self._changed.wait()
        finally:
            self._waiting -= 1
            self._refill_after_take()

    def _refill_after_take(self) -> None:
        # Replace what was just taken, ahead of the next lease. While warm kernels remain and
        # nobody waits, a moment later: a start-up's work on this event loop would otherwise
        # run first in the job that has just taken its kernel, and slow it down.
        if self._idle and not self._waiting:
            if self._refill_timer is None:
                self._refill_timer = asyncio.get_running_loop().call_later(
                    REFILL_DELAY_SECONDS, self._refill_now
                )
        else:
            self._fill()

    def _refill_now(self) -> None:
        self._refill_timer = None
        self._fill()

    def _dispose_soon(self, kernel: Kernel) -> asyncio.Task[None]:
        task = asyncio.create_task(self._dispose(kernel), name="kernel-pool-dispose")
        self._disposing.add(task)
        task.add_done_callback(self._disposing.discard)
        return task

    async def _dispose(self, kernel: Kernel) -> None:
        try:
            await kernel.shutdown()
        except Exception:
            log.exception("shutting down kernel %s failed", kernel.id)
        await asyncio.to_thread(remove_tree, kernel.work_dir)

    # -- filling -----------------------------------------------------------------

    def _fill(self) -> None:
        if self._closed or not self._started:
            return
        target = max(self.size, self._waiting)
        for _ in range(target - len(self._idle) - len(self._starting)):
            task = asyncio.create_task(self._start_one(), name="kernel-pool-start")
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _start_one(self) -> None:
        while not self._closed:
            try:
                kernel = await self._start_kernel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                telemetry.report().kernel_start_failed(self.launcher.backend)
                self._failed_starts += 1
                self._consecutive_failures += 1
                self._last_start_error = exc
                delay = min(
                    BACKOFF_FIRST_SECONDS * 2 ** (self._consecutive_failures - 1),
                    BACKOFF_MAX_SECONDS,
                )
                log.warning("kernel start failed (%s); retrying in %.1f s", exc, delay)
                if self._consecutive_failures >= LOG_ERROR_AFTER and not self._error_logged:
                    self._error_logged = True
                    log.error("%s", self._failure_report(exc))
                async with self._changed:
                    self._changed.notify_all()
                await asyncio.sleep(delay)
                continue
            if self._error_logged:
                log.warning(
                    "kernels start again, after %d failed starts", self._consecutive_failures
                )
            self._error_logged = False
            self._consecutive_failures = 0
            self._started_total += 1
            # Idle and no longer starting in one step, so stats never count a kernel twice.
            self._idle.append(kernel)
            current = asyncio.current_task()
            if current is not None:
                self._starting.discard(current)
            async with self._changed:
                self._changed.notify_all()
            return

    def _failure_report(self, exc: BaseException) -> str:
        never = "no kernel could start" if not self._started_total else "kernels stopped starting"
        return (
            f"{never}: {self._consecutive_failures} starts failed in a row; last error: {exc}. "
            f"Check: {self.launcher.troubleshooting}. Retrying every "
            f"{BACKOFF_MAX_SECONDS:g} s at most; jobs wait until a kernel starts."
        )

    def _claim_work_dir(self) -> PoolDir:
        # What crashed pools left, before our own directory: kernel work dirs of jobs that
        # run again in fresh kernels (kernels.workroot).
        if removed := sweep(self.work_root):
            log.warning(
                "deleted %d kernel work folder(s) a crash left in %s", len(removed), self.work_root
            )
        return PoolDir.claim(self.work_root)

    @property
    def work_dir_root(self) -> Path:
        """Where this pool's kernels' work dirs are (its own directory in the work root)."""
        if self._dir is None:
            raise PoolClosedError("call start() first")
        return self._dir.path

    async def _start_kernel(self) -> Kernel:
        kernel_id = uuid.uuid4().hex
        work_dir = self.work_dir_root / kernel_id
        launched: LaunchedKernel | None = None
        kernel: Kernel | None = None
        t0 = time.monotonic()
        try:
            await asyncio.to_thread(_make_work_dir, work_dir)
            async with asyncio.timeout(self.start_timeout):
                launched = await self.launcher.launch(
                    kernel_id, work_dir, build_kernel_env(work_dir)
                )
                kernel = Kernel(launched, work_dir, interrupt_grace=self.interrupt_grace)
                await kernel.connect(self.start_timeout)
                if not launched.warm:
                    warm = await kernel.execute(
                        WARMUP_CODE, timeout=None, silent=True, store_history=False
                    )
                    if warm.status != "ok":
                        detail = warm.error.message if warm.error else warm.status
                        raise KernelStartError(f"kernel warm-up failed: {detail}")
                if self.prepare_code and not self._prepared_at_launch:
                    prepared = await kernel.execute(
                        self.prepare_code, timeout=None, silent=True, store_history=False
                    )
                    detail = prepared.error.message if prepared.error else prepared.status
                    if prepared.status == "died" or prepared.unanswered:
                        # The kernel, not the code, failed: a job would fail on it too.
                        raise KernelStartError(f"kernel preparation failed: {detail}")
                    if prepared.status != "ok":
                        # A convenience of the caller's, not a reason to refuse the kernel.
                        log.warning("kernel %s: preparation failed: %s", kernel_id, detail)
        except BaseException as exc:
            if kernel is not None:
                await kernel.shutdown()
            elif launched is not None:
                await launched.shutdown()
            await asyncio.to_thread(remove_tree, work_dir)
            if isinstance(exc, TimeoutError):
                raise KernelStartError(
                    f"kernel not warm within {format_seconds(self.start_timeout)}"
                ) from exc
            if isinstance(exc, Exception) and not isinstance(exc, KernelStartError):
                raise KernelStartError(f"kernel start failed: {exc!r}") from exc
            raise
        log.debug("kernel %s warm in %.0f ms", kernel_id, (time.monotonic() - t0) * 1000)
        telemetry.report().kernel_started(self.launcher.backend, time.monotonic() - t0)
        return kernel

    async def _watch_idle(self) -> None:
        # A kernel may die while idle (OOM killer, a stray signal): replace it before a
        # lease finds out.
        while True:
            await asyncio.sleep(IDLE_CHECK_SECONDS)
            for kernel in list(self._idle):
                if not await kernel.is_alive() and kernel in self._idle:
                    log.warning("idle kernel %s died; replacing it", kernel.id)
                    self._idle.remove(kernel)
                    self._dispose_soon(kernel)
            self._fill()


def _make_work_dir(work_dir: Path) -> None:
    work_dir.mkdir(mode=0o700)
    os.chmod(work_dir, 0o700)  # mkdir's mode is filtered by the umask
    (work_dir / TMP_DIRNAME).mkdir(mode=0o700)
