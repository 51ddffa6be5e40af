"""`GatewayChannels`: one kernel's messages over Enterprise Gateway's websocket.

`WS /api/kernels/{id}/channels?session_id=…` carries every channel of the kernel on one socket:
JSON text frames with a `channel` field, or binary frames when a message has buffers (a
little-endian-free layout: the count, the offsets, the JSON, the buffers). This implements
`kernels.client.KernelClient` over it, so `Kernel` runs cells here exactly as over ZeroMQ.

The connection is watched, because the gateway, not us, owns the kernel:
* The gateway reports a kernel that died on IOPub: `status: restarting` (its restarter started
  a new process, which has none of the job's state) or `status: dead`.
* A kernel the gateway shut down (culled while idle, or deleted behind our back) publishes a
  `shutdown_reply` on IOPub that we never asked for (we stop kernels with DELETE).
* A dropped socket is reconnected once with the same session id: the gateway kept the
  kernel's messages for that session meanwhile and replays them. If that fails, the
  connection is lost for good.
Each of these makes `lost` say why; then the `get_*` coroutines raise `ChannelClosedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from pyexec.kernels.errors import ChannelClosedError
from pyexec.kernels.gateway.api import GatewayAPI
from pyexec.kernels.gateway.errors import GatewayAuthError, GatewayError, GatewayUnreachableError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "5.3"
# A rich output (a large figure, a wide table's HTML) is one message; past this a message is
# refused and the connection closes, rather than a worker holding gigabytes for one output.
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# Keepalive: a gateway that vanished without closing the socket is noticed within about
# PING_INTERVAL_SECONDS + PING_TIMEOUT_SECONDS.
PING_INTERVAL_SECONDS = 20.0
PING_TIMEOUT_SECONDS = 20.0
LOST_CONNECTION = "lost the gateway connection"
DIED_RESTARTING = "kernel died (the gateway restarted it)"
DIED_DEAD = "kernel died (the gateway reports it dead)"
SHUT_DOWN_BY_GATEWAY = "kernel died: the gateway shut it down (culled while idle, or deleted)"


class _Closed:
    """The end of a channel's queue."""


_CLOSED = _Closed()


def new_message(
    msg_type: str,
    content: dict[str, Any],
    *,
    session: str,
    username: str,
    channel: str = "shell",
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message as the gateway's websocket takes it (the gateway signs it for the kernel)."""
    msg_id = uuid.uuid4().hex
    header = {
        "msg_id": msg_id,
        "msg_type": msg_type,
        "username": username,
        "session": session,
        "date": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "version": PROTOCOL_VERSION,
    }
    return {
        "header": header,
        "msg_id": msg_id,
        "msg_type": msg_type,
        "parent_header": {},
        "metadata": metadata or {},
        "content": content,
        "buffers": [],
        "channel": channel,
    }


def encode_frame(msg: dict[str, Any], buffers: Sequence[bytes] = ()) -> str | bytes:
    """Text when there are no buffers; else jupyter_server's binary layout."""
    if not buffers:
        return json.dumps({**msg, "buffers": []}, default=str)
    body = json.dumps({k: v for k, v in msg.items() if k != "buffers"}, default=str).encode()
    parts = [body, *map(bytes, buffers)]
    offsets = [4 * (len(parts) + 1)]
    for part in parts[:-1]:
        offsets.append(offsets[-1] + len(part))
    return struct.pack(f"!{len(parts) + 1}I", len(parts), *offsets) + b"".join(parts)


def decode_frame(frame: str | bytes) -> dict[str, Any]:
    """A message with `buffers` as bytes and header dates as datetimes, as jupyter_client
    hands them out. ValueError for a frame that is not a message."""
    buffers: list[bytes] = []
    if isinstance(frame, bytes):
        if len(frame) < 4:
            raise ValueError("binary frame too short")
        (count,) = struct.unpack_from("!I", frame)
        if count < 1 or 4 * (count + 1) > len(frame):
            raise ValueError("binary frame with a bad part count")
        offsets = [*struct.unpack_from(f"!{count}I", frame, 4), len(frame)]
        if offsets != sorted(offsets) or offsets[0] < 4 * (count + 1):
            raise ValueError("binary frame with bad offsets")
        parts = [frame[offsets[i] : offsets[i + 1]] for i in range(count)]
        text: str | bytes = parts[0]
        buffers = parts[1:]
    else:
        text = frame
    msg = json.loads(text)
    if not isinstance(msg, dict) or not isinstance(msg.get("header"), dict):
        raise ValueError("not a Jupyter message")
    msg["buffers"] = buffers
    msg.setdefault("parent_header", {})
    msg.setdefault("metadata", {})
    msg.setdefault("content", {})
    msg["msg_type"] = msg["header"].get("msg_type", msg.get("msg_type"))
    msg["msg_id"] = msg["header"].get("msg_id", msg.get("msg_id"))
    for header in (msg["header"], msg["parent_header"]):
        if isinstance(header, dict) and isinstance(header.get("date"), str):
            with contextlib.suppress(ValueError):
                header["date"] = datetime.fromisoformat(header["date"])
    return msg


def _ack_at_once(ws: ClientConnection) -> None:
    """Keep Linux's TCP quick-ACK mode on. The gateway's websocket (tornado) writes with
    Nagle's algorithm on: each reply after the first would wait for our ACK, which Linux
    delays by up to 40 ms; this has to be set again after every read."""
    sock = ws.transport.get_extra_info("socket") if ws.transport is not None else None
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


class GatewayChannels:
    """Implements `kernels.client.KernelClient` for one gateway kernel."""

    def __init__(
        self,
        api: GatewayAPI,
        kernel_id: str,
        *,
        username: str = "pyexec",
        max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
        reconnect_timeout: float = 30.0,
    ) -> None:
        self.api = api
        self.kernel_id = kernel_id
        self.username = username
        self.session = uuid.uuid4().hex
        self.max_message_bytes = max_message_bytes
        self.reconnect_timeout = reconnect_timeout
        self.reconnects = 0
        self._ws: ClientConnection | None = None
        # Set whenever the socket is replaced (or given up on): a sender that failed waits.
        self._swapped = asyncio.Event()
        self._ended = False
        self._outgoing: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._shell: asyncio.Queue[dict[str, Any] | _Closed] = asyncio.Queue()
        self._iopub: asyncio.Queue[dict[str, Any] | _Closed] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._lost: str | None = None
        self._lost_set = asyncio.Event()
        self._closing = False

    @property
    def lost(self) -> str | None:
        """Why nothing more can come from the kernel (None while it can)."""
        return self._lost

    async def open(self, timeout: float) -> None:
        """Connect. The gateway answers the handshake once the kernel is ready."""
        self._ws = await self._connect(timeout)
        self._tasks = [
            asyncio.create_task(self._receive(), name=f"gateway-recv-{self.kernel_id}"),
            asyncio.create_task(self._send_loop(), name=f"gateway-send-{self.kernel_id}"),
        ]

    async def close(self) -> None:
        """Close the socket (the kernel lives on: deleting it is the caller's). Idempotent."""
        self._closing = True
        self._lose("the connection to the kernel was closed")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5.0)
        self._end_queues()

    def mark_lost(self, reason: str) -> None:
        """Record why the kernel is gone, when its owner learnt it first (a DELETE, the
        gateway's answer that it has no such kernel). Messages still on their way are read."""
        self._lose(reason)

    async def wait_lost(self, timeout: float) -> str | None:
        """Why the kernel is gone, once this connection learns it within `timeout`; else None."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._lost_set.wait()
        return self._lost

    # -- KernelClient ------------------------------------------------------------------

    def execute(
        self,
        code: str,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool | None = None,
        stop_on_error: bool = True,
    ) -> str:
        content = {
            "code": code,
            "silent": silent,
            "store_history": store_history,
            "user_expressions": user_expressions or {},
            "allow_stdin": bool(allow_stdin),
            "stop_on_error": stop_on_error,
        }
        return self.send("execute_request", content)

    def kernel_info(self) -> str:
        return self.send("kernel_info_request", {})

    async def get_shell_msg(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._get(self._shell)

    async def get_iopub_msg(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._get(self._iopub)

    def send(
        self,
        msg_type: str,
        content: dict[str, Any],
        *,
        channel: str = "shell",
        buffers: Sequence[bytes] = (),
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Queue a message for the kernel (sent in order, at once when connected); its id."""
        msg = new_message(
            msg_type,
            content,
            session=self.session,
            username=self.username,
            channel=channel,
            metadata=metadata,
        )
        self._outgoing.put_nowait(encode_frame(msg, buffers))
        return str(msg["msg_id"])

    # -- internals -----------------------------------------------------------------------

    async def _get(self, queue: asyncio.Queue[dict[str, Any] | _Closed]) -> dict[str, Any]:
        item = await queue.get()
        if isinstance(item, _Closed):
            queue.put_nowait(item)  # every later get ends too
            raise ChannelClosedError(self._lost or "the channel is closed")
        return item

    def _end_queues(self) -> None:
        self._swapped.set()
        if not self._ended:
            self._ended = True
            self._shell.put_nowait(_CLOSED)
            self._iopub.put_nowait(_CLOSED)

    async def _connect(self, timeout: float) -> ClientConnection:
        url = self.api.channels_url(self.kernel_id, self.session)
        try:
            return await connect(
                url,
                additional_headers=self.api.auth_headers,
                open_timeout=timeout,
                max_size=self.max_message_bytes,
                ping_interval=PING_INTERVAL_SECONDS,
                ping_timeout=PING_TIMEOUT_SECONDS,
                compression=None,
                user_agent_header="pyexec",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise GatewayAuthError(
                    f"the gateway at {self.api.url} refused the kernel's websocket ({status})",
                    status,
                ) from None
            if status == 404:
                raise GatewayError(
                    f"the gateway no longer has kernel {self.kernel_id}", status
                ) from None
            raise GatewayError(
                f"the gateway refused the kernel's websocket ({status})", status
            ) from None
        except TimeoutError:
            raise GatewayUnreachableError(
                f"the gateway did not open kernel {self.kernel_id}'s websocket within {timeout:g} s"
            ) from None
        except (OSError, WebSocketException) as exc:
            raise GatewayUnreachableError(
                f"cannot open kernel {self.kernel_id}'s websocket at {self.api.url}: {exc}"
            ) from None

    async def _receive(self) -> None:
        while True:
            ws = self._ws
            assert ws is not None
            try:
                frame = await ws.recv()
            except ConnectionClosed as exc:
                if self._closing or self._lost is not None:
                    break
                if not await self._reconnect(exc):
                    break
                continue
            _ack_at_once(ws)
            try:
                msg = decode_frame(frame)
            except (ValueError, UnicodeDecodeError) as exc:
                log.warning("gateway kernel %s: unreadable message: %s", self.kernel_id, exc)
                continue
            self._watch(msg)
            channel = msg.get("channel")
            if channel == "shell":
                self._shell.put_nowait(msg)
            elif channel == "iopub":
                self._iopub.put_nowait(msg)
        self._end_queues()

    def _watch(self, msg: dict[str, Any]) -> None:
        if msg.get("channel") != "iopub":
            return
        msg_type = msg["msg_type"]
        if msg_type == "status":
            state = msg["content"].get("execution_state")
            if state == "restarting":
                self._died(DIED_RESTARTING)
            elif state == "dead":
                self._died(DIED_DEAD)
        elif msg_type == "shutdown_reply":
            self._died(SHUT_DOWN_BY_GATEWAY)

    def _died(self, reason: str) -> None:
        if self._lost is None:
            self._lose(reason)
            log.warning("gateway kernel %s: %s", self.kernel_id, reason)

    def _lose(self, reason: str) -> None:
        if self._lost is None:
            self._lost = reason
            self._lost_set.set()

    async def _reconnect(self, cause: ConnectionClosed) -> bool:
        """Once, with the same session: the gateway replays what it buffered meanwhile."""
        log.warning(
            "gateway kernel %s: websocket dropped (%s); reconnecting", self.kernel_id, cause
        )
        try:
            self._ws = await self._connect(self.reconnect_timeout)
        except GatewayError as exc:
            self._lose(f"{LOST_CONNECTION}: {exc}")
            log.warning("gateway kernel %s: %s", self.kernel_id, self._lost)
            return False
        self.reconnects += 1
        self._swapped.set()
        log.warning("gateway kernel %s: reconnected", self.kernel_id)
        return True

    async def _send_loop(self) -> None:
        while True:
            frame = await self._outgoing.get()
            while True:
                self._swapped.clear()
                ws = self._ws
                if self._lost is not None or ws is None:
                    return
                try:
                    await ws.send(frame)
                    break
                except ConnectionClosed:
                    # Not written: the receiver reconnects, or gives up and this task ends.
                    await self._swapped.wait()
