"""What the SDK does, written once for both clients as operations (see `_protocol`).

Jobs are made by `Context.make_job`, so that the blocking client's operations return `Job`s and
the asyncio client's `AsyncJob`s from the same code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import unquote

import httpx

from pyexec_client import _endpoints as ep
from pyexec_client._errors import APIConnectionError, WaitTimeoutError
from pyexec_client._protocol import (
    Close,
    Emit,
    NextLine,
    Operation,
    Request,
    SaveBody,
    Sleep,
    Upload,
)
from pyexec_client._retry import RetryPolicy, call, connection_error
from pyexec_client._sse import SseDecoder
from pyexec_client.models import (
    Account,
    ApiKey,
    ApiKeyCreated,
    FileObject,
    JobData,
    Page,
    ResultEvent,
    WebhookSecret,
    parse_event,
)

J = TypeVar("J", bound=JobData)
T = TypeVar("T")

# The server holds `?wait=` up to 60 s; asking for less stays under the 60 s idle timeout of
# common proxies (nginx, cloud load balancers) in front of it.
LONG_POLL_SECONDS = 50.0
# A held request's answer comes after the hold: its read timeout must be longer.
LONG_POLL_MARGIN_SECONDS = 30.0
# The event stream sends a keep-alive comment after 15 s of silence; this much silence means
# the connection is gone, and the stream resumes on a new one.
STREAM_READ_TIMEOUT_SECONDS = 60.0
# Reconnections of an event stream in a row that brought no event before giving up.
STREAM_RECONNECTS = 5
DEFAULT_RECONNECT_SECONDS = 1.0

FileRef = str | os.PathLike[str] | FileObject | IO[bytes]
_FILE_ID = re.compile(r"^file_[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Context:
    policy: RetryPolicy
    make_job: Callable[[Mapping[str, Any]], JobData]


# --- jobs ------------------------------------------------------------------------------------


def create_job(
    ctx: Context,
    *,
    prompt: str | None,
    code: str | None,
    files: Iterable[FileRef],
    title: str | None,
    priority: int | None,
    timeout_seconds: int | None,
    parent: str | JobData | None,
    webhook_url: str | None,
    idempotency_key: str | None,
) -> Operation[JobData]:
    if not prompt and not code:
        raise ValueError("a job needs a prompt or code (or both)")
    if priority is not None and not (isinstance(priority, int) and 1 <= priority <= 10):
        raise ValueError(
            f"priority must be an integer from 1 to 10 (10 is the most urgent), not {priority!r}"
        )
    if isinstance(files, str | os.PathLike | FileObject):
        files = [files]  # one file given alone, not its name's characters one by one
    # Every local file is found before anything is uploaded: a typo costs no upload.
    refs = [_file_ref(f) for f in files]
    file_ids = []
    for ref in refs:
        if isinstance(ref, str):
            file_ids.append(ref)
        else:
            uploaded = yield from upload_file(ctx, ref)
            file_ids.append(uploaded.id)
    body: dict[str, Any] = {"prompt": prompt, "code": code, "title": title}
    body.update(priority=priority, timeout_seconds=timeout_seconds, webhook_url=webhook_url)
    body["parent_job_id"] = parent.id if isinstance(parent, JobData) else parent
    body = {k: v for k, v in body.items() if v is not None}
    if file_ids:
        body["file_ids"] = file_ids
    # The same key on every attempt: a retry after a lost answer returns the first job.
    key = idempotency_key or f"pyexec-client-{uuid.uuid4()}"
    request = Request(
        "POST", ep.CREATE_JOB.path(), json=body, headers={"Idempotency-Key": key}, idempotent=True
    )
    response = yield from call(request, ctx.policy)
    return ctx.make_job(response.json())


def get_job(ctx: Context, job_id: str, wait: float | None = None) -> Operation[JobData]:
    params: dict[str, Any] = {}
    timeout = None
    if wait:
        wait = max(0.0, min(float(wait), 60.0))
        params["wait"] = _seconds(wait)
        timeout = httpx.Timeout(wait + LONG_POLL_MARGIN_SECONDS, connect=10.0)
    request = Request(
        "GET", ep.GET_JOB.path(job_id=job_id), params=params, timeout=timeout, idempotent=True
    )
    response = yield from call(request, ctx.policy)
    return ctx.make_job(response.json())


def wait_for_job(ctx: Context, job_id: str, timeout: float | None) -> Operation[JobData]:
    """Long-poll until the job ends; `WaitTimeoutError` after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        hold = LONG_POLL_SECONDS
        if deadline is not None:
            hold = max(0.0, min(hold, deadline - time.monotonic()))
        job = yield from get_job(ctx, job_id, wait=hold)
        if job.is_final:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeoutError(job, timeout or 0.0)


def cancel_job(ctx: Context, job_id: str) -> Operation[JobData]:
    request = Request("POST", ep.CANCEL_JOB.path(job_id=job_id), idempotent=True)
    response = yield from call(request, ctx.policy)
    return ctx.make_job(response.json())


def delete(ctx: Context, endpoint: ep.Endpoint, /, **params: str) -> Operation[None]:
    yield from call(Request("DELETE", endpoint.path(**params), idempotent=True), ctx.policy)


def list_jobs_page(
    ctx: Context, *, status: str | None, limit: int, cursor: str | None
) -> Operation[Page[JobData]]:
    data = yield from _page(ctx, ep.LIST_JOBS, status=status, limit=limit, cursor=cursor)
    return Page([ctx.make_job(j) for j in data["data"]], data.get("next_cursor"))


def list_files_page(ctx: Context, *, limit: int, cursor: str | None) -> Operation[Page[FileObject]]:
    data = yield from _page(ctx, ep.LIST_FILES, limit=limit, cursor=cursor)
    return Page([FileObject.from_dict(f) for f in data["data"]], data.get("next_cursor"))


def list_all(
    pages: Callable[[str | None], Operation[Page[T]]], limit: int | None
) -> Operation[None]:
    """Emit every item of every page, fetching the next page only when it is needed."""
    cursor, count = None, 0
    while True:
        page = yield from pages(cursor)
        for item in page.data:
            if limit is not None and count >= limit:
                return
            yield Emit(item)
            count += 1
        if not page.next_cursor or not page.data:
            return
        cursor = page.next_cursor


def _page(ctx: Context, endpoint: ep.Endpoint, **params: Any) -> Operation[dict[str, Any]]:
    params = {k: v for k, v in params.items() if v is not None}
    response = yield from call(
        Request("GET", endpoint.path(), params=params, idempotent=True), ctx.policy
    )
    data: dict[str, Any] = response.json()
    return data


def stream_events(ctx: Context, job_id: str, last_event_id: str | None = None) -> Operation[None]:
    """Emit the job's events until its `result`, reconnecting after a dropped connection with
    `Last-Event-ID`, so that no event is missed or repeated."""
    path = ep.JOB_EVENTS.path(job_id=job_id)
    timeout = httpx.Timeout(STREAM_READ_TIMEOUT_SECONDS, connect=10.0)
    delay, fruitless = DEFAULT_RECONNECT_SECONDS, 0
    while True:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        request = Request("GET", path, headers=headers, timeout=timeout, idempotent=True)
        response = yield from call(request, ctx.policy, stream=True)
        decoder = SseDecoder()
        dropped: httpx.TransportError | None = None
        while True:
            try:
                line = yield NextLine(response)
            except httpx.TransportError as exc:
                dropped = exc
                break
            if line is None:
                break
            sse = decoder.feed(line)
            if decoder.retry_ms is not None:
                delay = decoder.retry_ms / 1000
            if sse is None:
                continue
            try:
                data = _json_object(sse.data)
            except ValueError:
                continue  # not an event of PyExec's: skip it rather than end the stream
            event = parse_event(sse.event, sse.id, data, ctx.make_job)
            if sse.id is not None:
                last_event_id = sse.id
            fruitless = 0
            yield Emit(event)
            if isinstance(event, ResultEvent):
                yield Close(response)
                return
        yield Close(response)
        # The stream ended without its result: the connection was lost. Resume after the last
        # event seen; give up only when reconnecting brings nothing several times in a row.
        fruitless += 1
        if fruitless > max(STREAM_RECONNECTS, ctx.policy.max_retries):
            if dropped is not None:
                raise connection_error(request, dropped) from dropped
            raise APIConnectionError(
                f"the event stream of job {job_id} kept ending without its result"
            )
        yield Sleep(delay * fruitless)


# --- files -----------------------------------------------------------------------------------


def upload_file(
    ctx: Context, source: str | os.PathLike[str] | IO[bytes], filename: str | None = None
) -> Operation[FileObject]:
    """Upload a path or a binary file object, streamed from disk in 1 MiB chunks."""
    with contextlib.ExitStack() as stack:
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            file: IO[bytes] = stack.enter_context(path.open("rb"))
            name = filename or path.name
        else:
            file = source
            name = filename or Path(str(getattr(source, "name", "") or "upload")).name
        if isinstance(file, io.TextIOBase):
            raise TypeError("upload a file opened in binary mode ('rb'), not text mode")
        try:
            start = file.tell()
            size = file.seek(0, io.SEEK_END) - start
            file.seek(start)
        except (AttributeError, OSError) as exc:
            raise TypeError(f"cannot upload {name!r}: it must be a file that can seek") from exc
        upload = Upload(file, name, size, start, boundary=uuid.uuid4().hex)
        # Sent again only when the server surely kept nothing (no connection, 429, 503).
        request = Request("POST", ep.UPLOAD_FILE.path(), upload=upload)
        response = yield from call(request, ctx.policy)
    return FileObject.from_dict(response.json())


def get_file(ctx: Context, file_id: str) -> Operation[FileObject]:
    request = Request("GET", ep.GET_FILE.path(file_id=file_id), idempotent=True)
    response = yield from call(request, ctx.policy)
    return FileObject.from_dict(response.json())


# --- API keys --------------------------------------------------------------------------------


def create_key(ctx: Context, name: str, scopes: Iterable[str] | None) -> Operation[ApiKeyCreated]:
    body: dict[str, Any] = {"name": name}
    if scopes is not None:
        body["scopes"] = list(scopes)
    response = yield from call(Request("POST", ep.CREATE_KEY.path(), json=body), ctx.policy)
    return _key_created(response.json())


def list_keys(ctx: Context) -> Operation[list[ApiKey]]:
    request = Request("GET", ep.LIST_KEYS.path(), idempotent=True)
    response = yield from call(request, ctx.policy)
    return [ApiKey.from_dict(k) for k in response.json()["data"]]


def _key_created(data: Mapping[str, Any]) -> ApiKeyCreated:
    created = ApiKeyCreated.from_dict(data)
    assert isinstance(created, ApiKeyCreated)
    return created


# --- the account -----------------------------------------------------------------------------


def get_account(ctx: Context) -> Operation[Account]:
    request = Request("GET", ep.GET_ACCOUNT.path(), idempotent=True)
    response = yield from call(request, ctx.policy)
    return Account.from_dict(response.json())


# --- webhooks --------------------------------------------------------------------------------


def get_webhook_secret(ctx: Context) -> Operation[WebhookSecret]:
    request = Request("GET", ep.GET_WEBHOOK_SECRET.path(), idempotent=True)
    response = yield from call(request, ctx.policy)
    return WebhookSecret.from_dict(response.json())


def rotate_webhook_secret(ctx: Context) -> Operation[WebhookSecret]:
    request = Request("POST", ep.ROTATE_WEBHOOK_SECRET.path())
    response = yield from call(request, ctx.policy)
    return WebhookSecret.from_dict(response.json())


# --- downloads -------------------------------------------------------------------------------


def read_bytes(ctx: Context, endpoint: ep.Endpoint, /, **params: str) -> Operation[bytes]:
    request = Request("GET", endpoint.path(**params), idempotent=True)
    response = yield from call(request, ctx.policy)
    return response.content


def download(
    ctx: Context,
    endpoint: ep.Endpoint,
    path: str | os.PathLike[str] | None,
    fallback_name: str,
    /,
    **params: str,
) -> Operation[Path]:
    """Save a download at `path` (a file, or a directory for the server's file name; None: the
    current directory). The file appears whole or not at all: it is written beside its target
    and renamed; a connection lost midway starts the download again."""
    request = Request("GET", endpoint.path(**params), idempotent=True)
    retries = 0
    while True:
        response = yield from call(request, ctx.policy, stream=True)
        target = download_target(path, response.headers, fallback_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        failure: httpx.TransportError | None = None
        try:
            yield SaveBody(response, part)
        except httpx.TransportError as exc:
            failure = exc
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if failure is None:
            os.replace(part, target)
            return target
        part.unlink(missing_ok=True)
        if retries >= ctx.policy.max_retries:
            raise connection_error(request, failure) from failure
        yield Sleep(ctx.policy.backoff(retries))
        retries += 1


def download_target(
    path: str | os.PathLike[str] | None, headers: httpx.Headers, fallback_name: str
) -> Path:
    name = safe_filename(attachment_filename(headers) or fallback_name) or fallback_name
    if path is None:
        return Path.cwd() / name
    target = Path(path).expanduser()
    if target.is_dir() or str(path).endswith(("/", os.sep)):
        return target / name
    return target


def attachment_filename(headers: httpx.Headers) -> str | None:
    """The file name of `Content-Disposition` (`filename*=UTF-8''…` preferred)."""
    value = headers.get("content-disposition") or ""
    star = re.search(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", value, re.IGNORECASE)
    if star:
        try:
            return unquote(star.group(2).strip(), encoding=star.group(1) or "utf-8")
        except LookupError:
            pass
    plain = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"', value, re.IGNORECASE)
    if plain:
        return re.sub(r"\\(.)", r"\1", plain.group(1))
    bare = re.search(r"filename\s*=\s*([^;\s]+)", value, re.IGNORECASE)
    return bare.group(1) if bare else None


def safe_filename(name: str) -> str:
    """A server's file name as a plain name: no folders, no control characters, no leading dot
    (a download never lands outside the folder it was asked into)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    return name.strip().lstrip(".").strip()


# --- helpers ---------------------------------------------------------------------------------


def _file_ref(ref: FileRef) -> str | os.PathLike[str] | IO[bytes]:
    """A file id as is, or what to upload: an existing path, or an open binary file."""
    if isinstance(ref, FileObject):
        return ref.id
    if isinstance(ref, str | os.PathLike):
        path = Path(ref).expanduser()
        if path.is_file():
            return path
        if isinstance(ref, str) and _FILE_ID.match(ref):
            return ref
        if path.exists():
            raise IsADirectoryError(f"{ref}: not a file (give a file, or a file id)")
        raise FileNotFoundError(f"{ref}: no such file (give a path, or a file id like file_…)")
    if hasattr(ref, "read"):
        return ref
    raise TypeError(f"files takes paths, file ids, FileObjects or binary files, not {ref!r}")


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"
