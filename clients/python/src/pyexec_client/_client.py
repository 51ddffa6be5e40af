"""`PyExec` (blocking) and `AsyncPyExec` (asyncio): the same SDK over two drivers."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, TypeVar

import httpx

from pyexec_client._config import resolve
from pyexec_client._drivers import AsyncDriver, BlockingDriver
from pyexec_client._errors import ConfigurationError
from pyexec_client._operations import Context
from pyexec_client._protocol import Operation
from pyexec_client._resources import (
    AccountResource,
    ApiKeys,
    AsyncAccountResource,
    AsyncApiKeys,
    AsyncFiles,
    AsyncJobs,
    AsyncWebhooksResource,
    Files,
    Jobs,
    WebhooksResource,
)
from pyexec_client._retry import DEFAULT_MAX_RETRIES, RetryPolicy
from pyexec_client._version import __version__
from pyexec_client.models import AsyncJob, Job

T = TypeVar("T")

# Generous for reads (a bundle is zipped on request), short for connecting. Long polls and
# event streams set their own.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
USER_AGENT = (
    f"pyexec-client/{__version__} (Python {'.'.join(map(str, sys.version_info[:3]))};"
    f" httpx {httpx.__version__})"
)


class _Base:
    api_key: str
    base_url: str

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        resolved = resolve(api_key, base_url)
        if not resolved.api_key:
            raise ConfigurationError(
                "no API key: pass api_key=..., set PYEXEC_API_KEY, or run `pyexec login`"
            )
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.api_key = resolved.api_key
        self.base_url = resolved.base_url
        self.max_retries = max_retries
        self._headers = {
            "Authorization": f"Bearer {self.api_key}",
            "User-Agent": USER_AGENT,
            **(default_headers or {}),
        }
        self._policy = RetryPolicy(max_retries=max_retries)

    def __repr__(self) -> str:
        # Never the key: a repr ends up in logs and tracebacks.
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class PyExec(_Base):
    """The PyExec API, blocking.

    `api_key` and `base_url` default to `PYEXEC_API_KEY` / `PYEXEC_BASE_URL`, then to what
    `pyexec login` stored. Failed requests are retried `max_retries` times (see `_retry`).
    Pass `http_client` for proxies, certificates or a transport of your own.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(api_key, base_url, max_retries, default_headers)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._driver = BlockingDriver(self._http, self.base_url, self._headers)
        self._ctx = Context(self._policy, lambda data: Job.bound(data, self))
        self.jobs = Jobs(self)
        self.files = Files(self)
        self.api_keys = ApiKeys(self)
        self.account = AccountResource(self)
        self.webhooks = WebhooksResource(self)

    def _run(self, op: Operation[T]) -> T:
        return self._driver.run(op)

    def _iterate(self, op: Operation[Any]) -> Iterator[Any]:
        return self._driver.iterate(op)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> PyExec:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncPyExec(_Base):
    """The PyExec API for asyncio: the same methods as `PyExec`, as coroutines (listing and
    streaming return async iterators)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(api_key, base_url, max_retries, default_headers)
        self._timeout = timeout
        self._default_headers = dict(default_headers or {})
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._driver = AsyncDriver(self._http, self.base_url, self._headers)
        self._ctx = Context(self._policy, lambda data: AsyncJob.bound(data, self))
        self.jobs = AsyncJobs(self)
        self.files = AsyncFiles(self)
        self.api_keys = AsyncApiKeys(self)
        self.account = AsyncAccountResource(self)
        self.webhooks = AsyncWebhooksResource(self)

    async def _run(self, op: Operation[T]) -> T:
        return await self._driver.run(op)

    def _iterate(self, op: Operation[Any]) -> AsyncIterator[Any]:
        return self._driver.iterate(op)

    def blocking_twin(self) -> PyExec:
        """A blocking client with the same settings (for what cannot await, like a repr)."""
        return PyExec(
            self.api_key,
            self.base_url,
            timeout=self._timeout,
            max_retries=self.max_retries,
            default_headers=self._default_headers,
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncPyExec:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
