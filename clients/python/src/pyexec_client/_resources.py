"""`client.jobs`, `client.files`, `client.api_keys` and `client.account`, for both clients.

Each method hands one operation of `_operations` to its client's driver: the blocking and the
asyncio versions differ only in `await`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from pyexec_client import _endpoints as ep
from pyexec_client import _operations as ops
from pyexec_client.models import (
    Account,
    ApiKey,
    ApiKeyCreated,
    AsyncJob,
    FileObject,
    Job,
    JobData,
    JobEvent,
    JobStatus,
    Page,
    WebhookSecret,
)

if TYPE_CHECKING:
    from pyexec_client._client import AsyncPyExec, PyExec
    from pyexec_client._protocol import Operation

PathArg = str | os.PathLike[str] | None
DEFAULT_PAGE_SIZE = 20


class Jobs:
    def __init__(self, client: PyExec) -> None:
        self._client = client

    def create(
        self,
        *,
        prompt: str | None = None,
        code: str | None = None,
        files: Iterable[ops.FileRef] = (),
        title: str | None = None,
        priority: int | None = None,
        timeout_seconds: int | None = None,
        parent: str | JobData | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Submit a job: a `prompt`, `code`, or both (the code runs first).

        `files` are uploaded first when they are local paths or open binary files; file ids
        (`file_…`) and `FileObject`s are used as they are. `priority` 1-10 (10 first),
        `parent` a finished job (or its id) to continue from. The request carries an
        `Idempotency-Key` (one is made when not given), so a retry never makes a second job.
        To repeat a call yourself with the same `idempotency_key`, give file ids, not paths:
        each call uploads its paths again, and new file ids make it another job (409).
        """
        op = ops.create_job(
            self._client._ctx,
            prompt=prompt,
            code=code,
            files=files,
            title=title,
            priority=priority,
            timeout_seconds=timeout_seconds,
            parent=parent,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
        )
        return cast(Job, self._client._run(op))

    def get(self, job_id: str, *, wait: float | None = None) -> Job:
        """The job; with `wait` (up to 60 s) the server holds the answer until it ends."""
        return cast(Job, self._client._run(ops.get_job(self._client._ctx, job_id, wait)))

    def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """Long-poll until the job ends; `WaitTimeoutError` after `timeout` seconds."""
        return cast(Job, self._client._run(ops.wait_for_job(self._client._ctx, job_id, timeout)))

    def list(
        self,
        *,
        status: JobStatus | None = None,
        limit: int | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[Job]:
        """This account's jobs, newest first, fetching pages as the iteration needs them.

        `limit` stops after that many jobs (None: all of them).
        """
        ctx = self._client._ctx

        def pages(cursor: str | None) -> Operation[Page[Any]]:
            return ops.list_jobs_page(ctx, status=status, limit=page_size, cursor=cursor)

        return self._client._iterate(ops.list_all(pages, limit))

    def list_page(
        self,
        *,
        status: JobStatus | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Job]:
        op = ops.list_jobs_page(self._client._ctx, status=status, limit=limit, cursor=cursor)
        return cast(Page[Job], self._client._run(op))

    def cancel(self, job_id: str) -> Job:
        """Cancel a pending or running job (`ConflictError` once it has ended)."""
        return cast(Job, self._client._run(ops.cancel_job(self._client._ctx, job_id)))

    def delete(self, job_id: str) -> None:
        """Delete an ended job and everything stored for it."""
        self._client._run(ops.delete(self._client._ctx, ep.DELETE_JOB, job_id=job_id))

    def stream(self, job_id: str, *, last_event_id: str | None = None) -> Iterator[JobEvent]:
        """The job's events, typed, from its first (or after `last_event_id`) to its
        `ResultEvent`; a dropped connection is resumed where it broke off."""
        return self._client._iterate(ops.stream_events(self._client._ctx, job_id, last_event_id))

    def download_notebook(self, job_id: str, path: PathArg = None) -> Path:
        """Save the job's `.ipynb`: at `path`, in the directory `path`, or (None) in the
        current directory under the server's name for it. Returns where it went."""
        return self._download(ep.JOB_NOTEBOOK, path, f"{job_id}.ipynb", job_id=job_id)

    def download_notebook_html(self, job_id: str, path: PathArg = None) -> Path:
        return self._download(ep.JOB_NOTEBOOK_HTML, path, f"{job_id}.html", job_id=job_id)

    def download_bundle(self, job_id: str, path: PathArg = None) -> Path:
        """Save the job's `.zip`: the notebook, its inputs and every file it wrote."""
        return self._download(ep.JOB_BUNDLE, path, f"{job_id}.zip", job_id=job_id)

    def download_artifact(self, job_id: str, name: str, path: PathArg = None) -> Path:
        fallback = ops.safe_filename(name) or "artifact"
        return self._download(ep.JOB_ARTIFACT, path, fallback, job_id=job_id, name=name)

    def read_artifact(self, job_id: str, name: str) -> bytes:
        op = ops.read_bytes(self._client._ctx, ep.JOB_ARTIFACT, job_id=job_id, name=name)
        return self._client._run(op)

    def _download(
        self, endpoint: ep.Endpoint, path: PathArg, fallback: str, /, **params: str
    ) -> Path:
        op = ops.download(self._client._ctx, endpoint, path, fallback, **params)
        return self._client._run(op)


class AsyncJobs:
    def __init__(self, client: AsyncPyExec) -> None:
        self._client = client

    async def create(
        self,
        *,
        prompt: str | None = None,
        code: str | None = None,
        files: Iterable[ops.FileRef] = (),
        title: str | None = None,
        priority: int | None = None,
        timeout_seconds: int | None = None,
        parent: str | JobData | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> AsyncJob:
        """See `Jobs.create`."""
        op = ops.create_job(
            self._client._ctx,
            prompt=prompt,
            code=code,
            files=files,
            title=title,
            priority=priority,
            timeout_seconds=timeout_seconds,
            parent=parent,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
        )
        return cast(AsyncJob, await self._client._run(op))

    async def get(self, job_id: str, *, wait: float | None = None) -> AsyncJob:
        return cast(AsyncJob, await self._client._run(ops.get_job(self._client._ctx, job_id, wait)))

    async def wait(self, job_id: str, *, timeout: float | None = None) -> AsyncJob:
        op = ops.wait_for_job(self._client._ctx, job_id, timeout)
        return cast(AsyncJob, await self._client._run(op))

    def list(
        self,
        *,
        status: JobStatus | None = None,
        limit: int | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[AsyncJob]:
        """`async for job in client.jobs.list():` see `Jobs.list`."""
        ctx = self._client._ctx

        def pages(cursor: str | None) -> Operation[Page[Any]]:
            return ops.list_jobs_page(ctx, status=status, limit=page_size, cursor=cursor)

        return self._client._iterate(ops.list_all(pages, limit))

    async def list_page(
        self,
        *,
        status: JobStatus | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[AsyncJob]:
        op = ops.list_jobs_page(self._client._ctx, status=status, limit=limit, cursor=cursor)
        return cast(Page[AsyncJob], await self._client._run(op))

    async def cancel(self, job_id: str) -> AsyncJob:
        return cast(AsyncJob, await self._client._run(ops.cancel_job(self._client._ctx, job_id)))

    async def delete(self, job_id: str) -> None:
        await self._client._run(ops.delete(self._client._ctx, ep.DELETE_JOB, job_id=job_id))

    def stream(self, job_id: str, *, last_event_id: str | None = None) -> AsyncIterator[JobEvent]:
        """`async for event in client.jobs.stream(job_id):` see `Jobs.stream`."""
        return self._client._iterate(ops.stream_events(self._client._ctx, job_id, last_event_id))

    async def download_notebook(self, job_id: str, path: PathArg = None) -> Path:
        return await self._download(ep.JOB_NOTEBOOK, path, f"{job_id}.ipynb", job_id=job_id)

    async def download_notebook_html(self, job_id: str, path: PathArg = None) -> Path:
        return await self._download(ep.JOB_NOTEBOOK_HTML, path, f"{job_id}.html", job_id=job_id)

    async def download_bundle(self, job_id: str, path: PathArg = None) -> Path:
        return await self._download(ep.JOB_BUNDLE, path, f"{job_id}.zip", job_id=job_id)

    async def download_artifact(self, job_id: str, name: str, path: PathArg = None) -> Path:
        fallback = ops.safe_filename(name) or "artifact"
        return await self._download(ep.JOB_ARTIFACT, path, fallback, job_id=job_id, name=name)

    async def read_artifact(self, job_id: str, name: str) -> bytes:
        op = ops.read_bytes(self._client._ctx, ep.JOB_ARTIFACT, job_id=job_id, name=name)
        return await self._client._run(op)

    async def _download(
        self, endpoint: ep.Endpoint, path: PathArg, fallback: str, /, **params: str
    ) -> Path:
        op = ops.download(self._client._ctx, endpoint, path, fallback, **params)
        return await self._client._run(op)


class Files:
    def __init__(self, client: PyExec) -> None:
        self._client = client

    def upload(
        self, file: str | os.PathLike[str] | IO[bytes], *, filename: str | None = None
    ) -> FileObject:
        """Upload a path or an open binary file, streamed (never read into memory whole)."""
        return self._client._run(ops.upload_file(self._client._ctx, file, filename))

    def list(
        self, *, limit: int | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[FileObject]:
        """This account's files, newest first, fetching pages as the iteration needs them."""
        ctx = self._client._ctx

        def pages(cursor: str | None) -> Operation[Page[Any]]:
            return ops.list_files_page(ctx, limit=page_size, cursor=cursor)

        return self._client._iterate(ops.list_all(pages, limit))

    def list_page(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[FileObject]:
        return self._client._run(ops.list_files_page(self._client._ctx, limit=limit, cursor=cursor))

    def get(self, file_id: str) -> FileObject:
        return self._client._run(ops.get_file(self._client._ctx, file_id))

    def content(self, file_id: str) -> bytes:
        """The file's bytes, in memory (`download` writes them to disk instead)."""
        return self._client._run(
            ops.read_bytes(self._client._ctx, ep.FILE_CONTENT, file_id=file_id)
        )

    def download(self, file_id: str, path: PathArg = None) -> Path:
        op = ops.download(self._client._ctx, ep.FILE_CONTENT, path, file_id, file_id=file_id)
        return self._client._run(op)

    def delete(self, file_id: str) -> None:
        self._client._run(ops.delete(self._client._ctx, ep.DELETE_FILE, file_id=file_id))


class AsyncFiles:
    def __init__(self, client: AsyncPyExec) -> None:
        self._client = client

    async def upload(
        self, file: str | os.PathLike[str] | IO[bytes], *, filename: str | None = None
    ) -> FileObject:
        return await self._client._run(ops.upload_file(self._client._ctx, file, filename))

    def list(
        self, *, limit: int | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[FileObject]:
        ctx = self._client._ctx

        def pages(cursor: str | None) -> Operation[Page[Any]]:
            return ops.list_files_page(ctx, limit=page_size, cursor=cursor)

        return self._client._iterate(ops.list_all(pages, limit))

    async def list_page(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[FileObject]:
        op = ops.list_files_page(self._client._ctx, limit=limit, cursor=cursor)
        return await self._client._run(op)

    async def get(self, file_id: str) -> FileObject:
        return await self._client._run(ops.get_file(self._client._ctx, file_id))

    async def content(self, file_id: str) -> bytes:
        op = ops.read_bytes(self._client._ctx, ep.FILE_CONTENT, file_id=file_id)
        return await self._client._run(op)

    async def download(self, file_id: str, path: PathArg = None) -> Path:
        op = ops.download(self._client._ctx, ep.FILE_CONTENT, path, file_id, file_id=file_id)
        return await self._client._run(op)

    async def delete(self, file_id: str) -> None:
        await self._client._run(ops.delete(self._client._ctx, ep.DELETE_FILE, file_id=file_id))


class ApiKeys:
    def __init__(self, client: PyExec) -> None:
        self._client = client

    def create(self, name: str, *, scopes: Iterable[str] | None = None) -> ApiKeyCreated:
        """A new key of this account (needs `keys:manage`); `key` is shown this once.

        `scopes` default to all; a key cannot grant a scope it does not have itself.
        """
        return self._client._run(ops.create_key(self._client._ctx, name, scopes))

    def list(self) -> list[ApiKey]:
        return self._client._run(ops.list_keys(self._client._ctx))

    def revoke(self, key_id: str) -> None:
        """Revoke a key: it fails with `AuthenticationError` from the next request on."""
        self._client._run(ops.delete(self._client._ctx, ep.REVOKE_KEY, key_id=key_id))


class AsyncApiKeys:
    def __init__(self, client: AsyncPyExec) -> None:
        self._client = client

    async def create(self, name: str, *, scopes: Iterable[str] | None = None) -> ApiKeyCreated:
        return await self._client._run(ops.create_key(self._client._ctx, name, scopes))

    async def list(self) -> list[ApiKey]:
        return await self._client._run(ops.list_keys(self._client._ctx))

    async def revoke(self, key_id: str) -> None:
        await self._client._run(ops.delete(self._client._ctx, ep.REVOKE_KEY, key_id=key_id))


class AccountResource:
    def __init__(self, client: PyExec) -> None:
        self._client = client

    def get(self) -> Account:
        """The calling key's account: its plan, the plan's limits, the requests made this UTC
        day (this one counted) and the storage used. Any valid key may read it."""
        return self._client._run(ops.get_account(self._client._ctx))


class AsyncAccountResource:
    def __init__(self, client: AsyncPyExec) -> None:
        self._client = client

    async def get(self) -> Account:
        """See `AccountResource.get`."""
        return await self._client._run(ops.get_account(self._client._ctx))


class WebhooksResource:
    def __init__(self, client: PyExec) -> None:
        self._client = client

    def secret(self) -> WebhookSecret:
        """The account's webhook signing secret (made on first use; needs `keys:manage`)."""
        return self._client._run(ops.get_webhook_secret(self._client._ctx))

    def rotate_secret(self) -> WebhookSecret:
        """A new signing secret; the old one stops verifying deliveries at once."""
        return self._client._run(ops.rotate_webhook_secret(self._client._ctx))


class AsyncWebhooksResource:
    def __init__(self, client: AsyncPyExec) -> None:
        self._client = client

    async def secret(self) -> WebhookSecret:
        """See `WebhooksResource.secret`."""
        return await self._client._run(ops.get_webhook_secret(self._client._ctx))

    async def rotate_secret(self) -> WebhookSecret:
        """See `WebhooksResource.rotate_secret`."""
        return await self._client._run(ops.rotate_webhook_secret(self._client._ctx))
