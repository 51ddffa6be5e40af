"""`GatewayLauncher`: kernels that a Jupyter Enterprise Gateway starts, behind the pool's seam.

The pool leases them like any other kernel: each is started ahead of need, warmed and
prepared over its websocket, lent once and then DELETEd. What differs is who owns the
process: the gateway does, so

* a kernel's liveness is what the gateway says: its websocket reports deaths and shutdowns
  (`kernels.gateway.channels`), and `GET /api/kernels/{id}` is asked at most every
  `poll_interval` seconds (and always before a lease) for the kernels it culled quietly;
* every kernel carries its worker's id, twice: as `KERNEL_PYEXEC_WORKER` in its environment
  (for people and pod labels) and in its id, whose first 48 bits are a hash of the worker id
  (the gateway's list of kernels shows ids and nothing else). A worker that starts again
  under the same id deletes the kernels its previous life left (`delete_leftovers`).
* the kernel's id is chosen here (`KERNEL_ID`), so a launch that fails or is cancelled
  half-way can still delete what the gateway may have started.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import httpx

from pyexec.kernels.errors import KernelStartError
from pyexec.kernels.files import KernelFiles
from pyexec.kernels.gateway.api import GatewayAPI
from pyexec.kernels.gateway.channels import DEFAULT_MAX_MESSAGE_BYTES, GatewayChannels
from pyexec.kernels.gateway.errors import GatewayAuthError, GatewayError, GatewayUnreachableError
from pyexec.kernels.gateway.transfer import ChannelFiles
from pyexec.kernels.launcher import KernelLauncher, LaunchedKernel
from pyexec.kernels.sandbox import Isolation
from pyexec.kernels.workdir import EvaluateInKernel, HostWorkDir, StopKernel

log = logging.getLogger(__name__)

DEFAULT_KERNEL_NAME = "pyexec-python-k8s"
DEFAULT_USERNAME = "pyexec"
# How stale the gateway's word on a kernel may be while a cell runs or the kernel idles.
POLL_INTERVAL_SECONDS = 1.0
DELETE_TIMEOUT_SECONDS = 60.0
# How long a kernel the gateway no longer has may take to be reported dead on its websocket.
DEATH_NEWS_WAIT_SECONDS = 0.5
# A DELETE that raced the gateway's own POST handling (cancelled launch) finds nothing; it is
# tried again this often, this many times, in case the kernel appears after all.
LATE_DELETE_DELAYS_SECONDS = (1.0, 3.0, 10.0)
WORKER_TAG_HEX = 12
ISOLATION = "the gateway's (kernel pods, NetworkPolicy)"


def worker_tag(worker_id: str) -> str:
    """48 bits that every gateway kernel id of this worker starts with."""
    return hashlib.sha256(worker_id.encode()).hexdigest()[:WORKER_TAG_HEX]


def new_gateway_kernel_id(tag: str) -> str:
    """A version-4 UUID (as the gateway demands of `KERNEL_ID`) that starts with `tag`."""
    return str(uuid.UUID(bytes=bytes.fromhex(tag) + os.urandom(10), version=4))


def is_tagged(kernel_id: str, tag: str) -> bool:
    return kernel_id.replace("-", "")[:WORKER_TAG_HEX] == tag


class GatewayLauncher(KernelLauncher):
    """Starts kernels on an Enterprise Gateway.

    `kernel_name`: the gateway's kernelspec. `username`: `KERNEL_USERNAME`, whom the gateway
    counts kernels against (`EG_MAX_KERNELS_PER_USER`); a gateway running as root refuses
    kernels without one. `worker_id`: stable across restarts of one worker, distinct between
    workers. `kernel_env`: more `KERNEL_*` values for the kernelspec (image, resources...).
    `kernel_work_root`: where kernels see the volume that holds their working dirs, when one
    is shared with the worker, and `worker_work_root` where the worker sees it (the pool's
    work root): a kernel's `KERNEL_WORKING_DIR` is its work dir's path below the one, put
    below the other. None: kernels work in a directory of their own, and files travel over
    their channel.
    """

    backend = "gateway"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        kernel_name: str = DEFAULT_KERNEL_NAME,
        username: str = DEFAULT_USERNAME,
        worker_id: str,
        kernel_env: Mapping[str, str] | None = None,
        kernel_work_root: str | None = None,
        worker_work_root: Path | None = None,
        request_timeout: float = 30.0,
        launch_timeout: float = 60.0,
        poll_interval: float = POLL_INTERVAL_SECONDS,
        max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        for key in kernel_env or {}:
            if not key.startswith("KERNEL_"):
                raise ValueError(f"{key}: the gateway passes only KERNEL_* variables to kernels")
        self.api = GatewayAPI(url, token, request_timeout=request_timeout, transport=transport)
        self.kernel_name = kernel_name
        self.username = username
        self.worker_id = worker_id
        self.tag = worker_tag(worker_id)
        self.kernel_env = dict(kernel_env or {})
        if kernel_work_root is not None and worker_work_root is None:
            raise ValueError("a shared volume needs the worker's path to it (worker_work_root)")
        self.kernel_work_root = kernel_work_root
        self.worker_work_root = worker_work_root
        self.launch_timeout = launch_timeout
        self.poll_interval = poll_interval
        self.max_message_bytes = max_message_bytes
        self.gateway_version: str | None = None
        self._kernelspec: dict[str, str] | None = None
        self._started = False
        self._start_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def isolation(self) -> Isolation:
        facts = {
            "gateway_url": self.api.url,
            "gateway_version": self.gateway_version or "unknown (not reached yet)",
            "kernelspec": self.kernel_name,
            "files": "shared volume" if self.kernel_work_root else "over the kernel's channel",
        }
        return Isolation(
            self.backend,
            "delegated",
            {"isolation": ISOLATION},
            {},
            facts=facts,
        )

    @property
    def troubleshooting(self) -> str:
        return (
            f"the gateway's log at {self.api.url} (the kernel's launch, restarts and exit), "
            f"that its kernelspec '{self.kernel_name}' starts a kernel within "
            f"{self.launch_timeout:g} s there, and the token"
        )

    # -- start-up ------------------------------------------------------------------------

    async def check(self, work_root: Path) -> Isolation:
        """Reach the gateway now, as the pool's start will: its version, the token, the
        kernelspec. Raises for what configuration must fix (GatewayAuthError,
        KernelSpecNotFoundError); an unreachable gateway is only logged."""
        try:
            await self._probe()
        except GatewayUnreachableError as exc:
            log.warning("kernel backend: gateway: %s; kernels will start once it answers", exc)
        return self.isolation

    async def start(self) -> None:
        """Check the gateway (the token, the kernelspec) and delete what a previous life of
        this worker left. Raises for what configuration must fix (GatewayAuthError,
        KernelSpecNotFoundError); an unreachable gateway is only logged, since the pool keeps
        trying and /readyz says it is not ready."""
        try:
            await self._ensure_started()
        except GatewayUnreachableError as exc:
            log.warning("kernel backend: gateway: %s; kernels will start once it answers", exc)

    async def _ensure_started(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            await self._probe()
            self._started = True
            log.info("%s", self.isolation.summary())
            try:
                deleted = await self.delete_leftovers()
            except GatewayError as exc:
                log.warning("could not look for kernels a previous run left: %s", exc)
            else:
                if deleted:
                    log.warning(
                        "deleted %d gateway kernel(s) a previous run of worker %s left",
                        len(deleted),
                        self.worker_id,
                    )

    async def _probe(self) -> None:
        info = await self.api.info()
        self.gateway_version = info.get("gateway_version") or info.get("version")
        spec = await self.api.kernelspec(self.kernel_name)
        inner = spec.get("spec") or {}
        self._kernelspec = {
            "name": self.kernel_name,
            "display_name": str(inner.get("display_name") or self.kernel_name),
            "language": str(inner.get("language") or "python"),
        }

    async def delete_leftovers(self) -> list[str]:
        """Delete this worker id's kernels that no client is connected to; their ids.

        A kernel with a connection is left alone (with a warning): another live worker runs
        under the same id. Needs the gateway's `EG_LIST_KERNELS=True`; without it, says so.
        """
        try:
            kernels = await self.api.list_kernels()
        except GatewayAuthError:
            log.warning(
                "the gateway does not list kernels (EG_LIST_KERNELS is not True): kernels a "
                "crashed worker left stay until the gateway culls them"
            )
            return []
        left: list[str] = []
        for model in kernels:
            if not is_tagged(model.id, self.tag):
                continue
            if model.connections:
                log.warning(
                    "gateway kernel %s carries worker id %s but is connected: is another "
                    "worker running under the same id?",
                    model.id,
                    self.worker_id,
                )
                continue
            left.append(model.id)
        # At once: the gateway takes a second or two to shut each kernel down.
        gone = await asyncio.gather(
            *(self.api.delete_kernel(k, timeout=DELETE_TIMEOUT_SECONDS) for k in left)
        )
        return [kernel_id for kernel_id, found in zip(left, gone, strict=True) if found]

    # -- launching -------------------------------------------------------------------------

    async def launch(
        self, kernel_id: str, work_dir: Path, env: Mapping[str, str]
    ) -> LaunchedKernel:
        """`env` is what a local kernel would get; a gateway kernel's environment is its
        kernelspec's (its launcher sets HOME and TMPDIR in its working dir) plus the
        `KERNEL_*` values sent here, since the gateway passes nothing else on."""
        # Unreachable at start-up: this launch fails like any other, and the pool retries.
        await self._ensure_started()
        gateway_id = new_gateway_kernel_id(self.tag)
        channels: GatewayChannels | None = None
        posted = False
        t0 = time.monotonic()
        try:
            # The gateway answers once its kernel runs (a pod: scheduled, pulled, started).
            await self.api.start_kernel(
                self.kernel_name,
                self._kernel_env(gateway_id, work_dir),
                timeout=self.launch_timeout + self.api.request_timeout,
            )
            posted = True
            channels = GatewayChannels(
                self.api,
                gateway_id,
                username=self.username,
                max_message_bytes=self.max_message_bytes,
                reconnect_timeout=self.api.request_timeout,
            )
            # The handshake completes once the kernel answers the gateway's kernel_info.
            remaining = max(self.launch_timeout - (time.monotonic() - t0), 1.0)
            await channels.open(remaining)
        except BaseException:
            if channels is not None:
                await channels.close()
            self._discard(gateway_id, posted)
            raise
        log.debug(
            "gateway kernel %s (pool id %s) connected in %.0f ms",
            gateway_id,
            kernel_id,
            (time.monotonic() - t0) * 1000,
        )
        return GatewayKernel(
            kernel_id,
            gateway_id,
            self.api,
            channels,
            self._kernelspec or _plain_kernelspec(self.kernel_name),
            poll_interval=self.poll_interval,
            shared_work_dir=self.kernel_work_root is not None,
        )

    def _kernel_env(self, gateway_id: str, work_dir: Path) -> dict[str, str]:
        env = {
            **self.kernel_env,
            "KERNEL_ID": gateway_id,
            "KERNEL_USERNAME": self.username,
            "KERNEL_PYEXEC_WORKER": self.worker_id,
            "KERNEL_LAUNCH_TIMEOUT": str(max(int(self.launch_timeout), 1)),
        }
        if self.kernel_work_root is not None and self.worker_work_root is not None:
            # The pool makes work dirs in a directory of its own under the work root.
            try:
                below = work_dir.relative_to(self.worker_work_root)
            except ValueError:
                raise KernelStartError(
                    f"work dir {work_dir} is not on the shared volume ({self.worker_work_root})"
                ) from None
            env["KERNEL_WORKING_DIR"] = str(PurePosixPath(self.kernel_work_root, *below.parts))
        return env

    def _discard(self, gateway_id: str, posted: bool) -> None:
        """Delete a kernel whose launch failed, in the background (also on cancellation)."""
        task = asyncio.create_task(self._delete_eventually(gateway_id, posted))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _delete_eventually(self, gateway_id: str, posted: bool) -> None:
        # Unposted (cancelled or failed mid-POST): the gateway may still be creating it.
        delays = (0.0,) if posted else (0.0, *LATE_DELETE_DELAYS_SECONDS)
        for delay in delays:
            await asyncio.sleep(delay)
            try:
                if await self.api.delete_kernel(gateway_id, timeout=DELETE_TIMEOUT_SECONDS):
                    return
            except GatewayError as exc:
                log.warning("could not delete gateway kernel %s: %s", gateway_id, exc)
                return

    async def close(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.api.close()


def _plain_kernelspec(name: str) -> dict[str, str]:
    return {"name": name, "display_name": name, "language": "python"}


class GatewayKernel(LaunchedKernel):
    """One gateway kernel: its websocket is the client, its REST resource the process."""

    def __init__(
        self,
        kernel_id: str,
        gateway_id: str,
        api: GatewayAPI,
        channels: GatewayChannels,
        kernelspec: dict[str, str],
        *,
        poll_interval: float = POLL_INTERVAL_SECONDS,
        shared_work_dir: bool = False,
    ) -> None:
        self.kernel_id = kernel_id
        self.gateway_id = gateway_id
        self._api = api
        self._channels = channels
        self._kernelspec = dict(kernelspec)
        self._poll_interval = poll_interval
        self._looked_at = time.monotonic()
        self._shared_work_dir = shared_work_dir
        self._gone: str | None = None
        self._deleting: asyncio.Task[bool] | None = None
        self._ended: asyncio.Task[bool] | None = None

    @property
    def client(self) -> GatewayChannels:
        return self._channels

    @property
    def kernelspec(self) -> dict[str, str]:
        return dict(self._kernelspec)

    async def is_alive(self) -> bool:
        stale = time.monotonic() - self._looked_at >= self._poll_interval
        if stale and self._gone is None and self._channels.lost is None:
            await self._look()
        return self._gone is None and self._channels.lost is None

    async def confirm_alive(self) -> bool:
        if self._gone is None and self._channels.lost is None:
            await self._look()
        return self._gone is None and self._channels.lost is None

    async def _look(self) -> None:
        self._looked_at = time.monotonic()
        try:
            model = await self._api.get_kernel(self.gateway_id)
        except GatewayError as exc:
            # Unreachable for a moment: the websocket decides whether the kernel is lost.
            log.debug("gateway kernel %s: could not look at it: %s", self.gateway_id, exc)
            return
        if model is None:
            # A kernel the gateway gave up on is forgotten in the same breath as it is
            # reported dead on the websocket: that word, on its way to us, says more.
            heard = await self._channels.wait_lost(DEATH_NEWS_WAIT_SECONDS)
            self._gone = heard or "kernel died: the gateway no longer has it (culled or deleted)"
        elif model.execution_state == "dead":
            self._gone = "kernel died (the gateway reports it dead)"
        if self._gone is not None:
            self._channels.mark_lost(self._gone)

    async def exit_status(self) -> int | None:
        # The gateway does not say how a kernel process ended.
        return None

    @property
    def runs_as_service_user(self) -> bool:
        return False

    def files(self, work_dir: Path, stop: StopKernel, evaluate: EvaluateInKernel) -> KernelFiles:
        """On a volume shared with the kernel: the host's careful reading, once the gateway
        has deleted the kernel. Otherwise over the kernel's channel, before it is deleted."""
        if self._shared_work_dir:
            return HostWorkDir(work_dir, stop, must_stop=True)
        return ChannelFiles(evaluate, self._ending(stop), spool_dir=work_dir)

    def _ending(self, stop: StopKernel) -> StopKernel:
        """`stop`, not waited for: once its files are read, the kernel runs no more cells, but
        the job need not wait the second or two the gateway takes to shut a kernel down (the
        pool's disposal of the kernel waits for the DELETE)."""

        async def end() -> bool:
            # ensure_future: `stop` is any awaitable, create_task takes only a coroutine.
            self._ended = asyncio.ensure_future(stop())
            self._ended.set_name("gateway-end")
            await asyncio.sleep(0)  # `stop` has marked the kernel dead before its first wait
            return False

        return end

    def death_reason(self) -> str | None:
        return self._gone or self._channels.lost

    async def interrupt(self) -> None:
        if self._gone is None and self._channels.lost is None:
            await self._api.interrupt(self.gateway_id)

    async def kill(self) -> bool:
        """DELETE the kernel; True once the gateway confirmed it is gone.

        The gateway answers once the kernel's process (or pod) stopped: at once for a kernel
        that obeys its shutdown request, after up to its `shutdown_wait_time` (5 s by
        default; SIGTERM half-way, then SIGKILL) for one that does not.
        """
        if self._deleting is None:
            self._gone = self._gone or "kernel was shut down"
            # Its shutdown_reply, on its way, is then no news.
            self._channels.mark_lost(self._gone)
            self._deleting = asyncio.create_task(self._delete(), name="gateway-delete")
        # Shielded: a cancelled caller must not leave the kernel running on the gateway.
        return await asyncio.shield(self._deleting)

    async def _delete(self) -> bool:
        try:
            await self._api.delete_kernel(self.gateway_id, timeout=DELETE_TIMEOUT_SECONDS)
        except GatewayError as exc:
            log.warning("could not delete gateway kernel %s: %s", self.gateway_id, exc)
            return False
        return True

    async def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await self._channels.close()
        await self.kill()
