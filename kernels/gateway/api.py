"""`GatewayAPI`: Jupyter Enterprise Gateway's REST API, async, on httpx.

Enterprise Gateway ships no client we can use (its own is synchronous, sends no token and
keeps only text), so this speaks its protocol directly: `POST /api/kernels {"name", "env"}`,
`GET`/`DELETE /api/kernels/{id}`, `POST /api/kernels/{id}/interrupt`, `GET /api/kernels`
(only when the gateway runs with `EG_LIST_KERNELS=True`), `GET /api` and
`GET /api/kernelspecs/{name}`; every request carries `Authorization: token …`. Each failure
becomes an error from `kernels.gateway.errors` that says what to do about it; the token never
appears in one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from pyexec.kernels import telemetry
from pyexec.kernels.gateway.errors import (
    GatewayAuthError,
    GatewayError,
    GatewayLaunchTimeoutError,
    GatewayLimitError,
    GatewayUnreachableError,
    KernelSpecNotFoundError,
)

DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
# Enterprise Gateway refuses longer environment values (400).
MAX_ENV_VALUE_CHARS = 4096


@dataclass(frozen=True)
class GatewayKernelModel:
    """A kernel as the gateway lists it."""

    id: str
    name: str
    execution_state: str
    connections: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GatewayKernelModel:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            execution_state=str(data.get("execution_state", "")),
            connections=int(data.get("connections") or 0),
        )


def normalise_url(url: str) -> str:
    """`http(s)://host[:port][/base]` without a trailing slash; ValueError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("the gateway URL takes no credentials, query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class GatewayAPI:
    """One gateway's REST API. `transport` replaces the network (tests, proxies)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = normalise_url(url)
        self.request_timeout = request_timeout
        self._headers = {"Authorization": f"token {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=self._headers,
            timeout=request_timeout,
            transport=transport,
        )

    @property
    def auth_headers(self) -> dict[str, str]:
        """What the websocket handshake must carry too."""
        return dict(self._headers)

    def channels_url(self, kernel_id: str, session_id: str) -> str:
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}/api/kernels/{quote(kernel_id)}/channels"
        return urlunsplit((scheme, parts.netloc, path, f"session_id={quote(session_id)}", ""))

    async def close(self) -> None:
        await self._http.aclose()

    # -- the API ---------------------------------------------------------------------

    async def info(self) -> dict[str, str]:
        """`{"version": <jupyter_server>, "gateway_version": <Enterprise Gateway>}`."""
        response = await self._request("GET", "/api", action="read its version")
        return {str(k): str(v) for k, v in _json(response).items()}

    async def kernelspec(self, name: str) -> dict[str, Any]:
        response = await self._request(
            "GET", f"/api/kernelspecs/{quote(name)}", action="read kernelspecs", missing_ok=True
        )
        if response.status_code == 404:
            available = await self._kernelspec_names()
            listed = ", ".join(sorted(available)) or "none"
            raise KernelSpecNotFoundError(
                f"the gateway at {self.url} has no kernelspec '{name}' (it has: {listed})", 404
            )
        spec: dict[str, Any] = _json(response)
        return spec

    async def start_kernel(
        self, name: str, env: Mapping[str, str], *, timeout: float | None = None
    ) -> GatewayKernelModel:
        """POST /api/kernels. A gateway that starts pods answers once the pod runs, so
        `timeout` should cover its launch timeout (`KERNEL_LAUNCH_TIMEOUT`)."""
        for key, value in env.items():
            if len(value) > MAX_ENV_VALUE_CHARS:
                raise ValueError(f"{key} is longer than the gateway takes ({MAX_ENV_VALUE_CHARS})")
        response = await self._request(
            "POST",
            "/api/kernels",
            action="start a kernel",
            json={"name": name, "env": dict(env)},
            timeout=timeout,
            launching=True,
        )
        return GatewayKernelModel.from_json(_json(response))

    async def get_kernel(self, kernel_id: str) -> GatewayKernelModel | None:
        """The kernel's model; None once the gateway no longer has it."""
        response = await self._request(
            "GET", f"/api/kernels/{quote(kernel_id)}", action="look at a kernel", missing_ok=True
        )
        if response.status_code == 404:
            return None
        return GatewayKernelModel.from_json(_json(response))

    async def list_kernels(self) -> list[GatewayKernelModel]:
        """Every kernel of the gateway; GatewayAuthError unless it runs with
        `EG_LIST_KERNELS=True`."""
        response = await self._request("GET", "/api/kernels", action="list kernels")
        return [GatewayKernelModel.from_json(item) for item in _json(response)]

    async def interrupt(self, kernel_id: str) -> bool:
        """False when the gateway no longer has the kernel."""
        response = await self._request(
            "POST",
            f"/api/kernels/{quote(kernel_id)}/interrupt",
            action="interrupt a kernel",
            missing_ok=True,
        )
        return response.status_code != 404

    async def delete_kernel(self, kernel_id: str, *, timeout: float | None = None) -> bool:
        """Shut the kernel down; False when the gateway did not have it (any more)."""
        response = await self._request(
            "DELETE",
            f"/api/kernels/{quote(kernel_id)}",
            action="delete a kernel",
            missing_ok=True,
            timeout=timeout,
        )
        return response.status_code != 404

    # -- internals -------------------------------------------------------------------

    async def _kernelspec_names(self) -> list[str]:
        try:
            response = await self._request("GET", "/api/kernelspecs", action="list kernelspecs")
            return [str(name) for name in _json(response).get("kernelspecs", {})]
        except GatewayError:
            return []

    async def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return await self._send(method, path, **options)
        except GatewayError as exc:
            telemetry.report().gateway_error(exc.kind)
            raise

    async def _send(
        self,
        method: str,
        path: str,
        *,
        action: str,
        missing_ok: bool = False,
        launching: bool = False,
        timeout: float | None = None,
        json: Any = None,
    ) -> httpx.Response:
        seconds = timeout if timeout is not None else self.request_timeout
        try:
            response = await self._http.request(method, path, json=json, timeout=seconds)
        except httpx.TimeoutException:
            if launching:
                raise GatewayLaunchTimeoutError(
                    f"the gateway at {self.url} did not start a kernel within {seconds:g} s"
                ) from None
            raise GatewayUnreachableError(
                f"the gateway at {self.url} did not answer within {seconds:g} s "
                f"(trying to {action})"
            ) from None
        except httpx.TransportError as exc:
            raise GatewayUnreachableError(
                f"cannot reach the gateway at {self.url}: {exc or type(exc).__name__}"
            ) from None
        status = response.status_code
        if status < 300 or (status == 404 and missing_ok):
            return response
        message = _error_message(response)
        if status == 401:
            raise GatewayAuthError(
                f"the gateway at {self.url} refused the token (401 Unauthorized)", status
            )
        if status == 403:
            if "limit" in message.lower():
                raise GatewayLimitError(f"the gateway refused a kernel: {message}", status)
            raise GatewayAuthError(
                f"the gateway at {self.url} forbids us to {action} (403: {message})", status
            )
        if launching and "timeout" in message.lower():
            raise GatewayLaunchTimeoutError(f"the gateway could not start a kernel: {message}")
        raise GatewayError(
            f"the gateway at {self.url} failed to {action} ({status}: {message})", status
        )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise GatewayError(
            f"the gateway answered {response.request.method} {response.request.url.path} "
            f"with something that is not JSON ({response.status_code})"
        ) from None


def _error_message(response: httpx.Response) -> str:
    """Enterprise Gateway's `{"reason", "message", "traceback"}`, as one line."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return response.reason_phrase or "error"
    if not isinstance(body, dict):
        return response.reason_phrase or "error"
    message = str(body.get("message") or "").strip()
    traceback = str(body.get("traceback") or "").strip()
    if (not message or message == "Unknown server error") and traceback:
        # The exception's own line says more than "Unknown server error".
        message = traceback.splitlines()[-1].strip()
    return message or str(body.get("reason") or response.reason_phrase or "error")
