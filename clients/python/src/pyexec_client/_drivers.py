"""The two drivers that run operations (see `_protocol`): one over a blocking `httpx.Client`,
one over an `httpx.AsyncClient`. They do the I/O an operation asks for and nothing else."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any, TypeVar, cast

import httpx

from pyexec_client._protocol import (
    Close,
    Emit,
    NextLine,
    Operation,
    Request,
    SaveBody,
    Send,
    Sleep,
    Step,
    Upload,
)

T = TypeVar("T")

_RETURN, _EMIT = "return", "emit"


class StreamingOperationError(TypeError):
    """A streaming operation was run for its result instead of iterated (an SDK bug)."""


def _build(
    http: httpx.Client | httpx.AsyncClient,
    base_url: str,
    headers: dict[str, str],
    request: Request,
    content: Any,
) -> httpx.Request:
    merged = {**headers, **request.headers}
    if request.upload is not None:
        merged["Content-Type"] = request.upload.content_type
        merged["Content-Length"] = str(request.upload.content_length)
    return http.build_request(
        request.method,
        base_url + request.path,
        params=request.params or None,
        json=request.json,
        content=content,
        headers=merged,
        timeout=request.timeout if request.timeout is not None else httpx.USE_CLIENT_DEFAULT,
    )


def _upload_chunks(upload: Upload) -> Iterator[bytes]:
    yield upload.head()
    upload.file.seek(upload.start)  # rewound for every attempt
    remaining = upload.size
    while remaining > 0:
        chunk = upload.file.read(min(upload.chunk_size, remaining))
        if not chunk:
            raise OSError(f"{upload.filename} got shorter while it was being uploaded")
        remaining -= len(chunk)
        yield chunk
    yield upload.tail()


async def _upload_chunks_async(upload: Upload) -> AsyncIterator[bytes]:
    import asyncio

    # File reads go to a thread: a slow disk must not stall the event loop.
    yield upload.head()
    await asyncio.to_thread(upload.file.seek, upload.start)
    remaining = upload.size
    while remaining > 0:
        chunk = await asyncio.to_thread(upload.file.read, min(upload.chunk_size, remaining))
        if not chunk:
            raise OSError(f"{upload.filename} got shorter while it was being uploaded")
        remaining -= len(chunk)
        yield chunk
    yield upload.tail()


class BlockingDriver:
    def __init__(self, http: httpx.Client, base_url: str, headers: dict[str, str]) -> None:
        self.http = http
        self.base_url = base_url
        self.headers = headers

    def run(self, op: Operation[T]) -> T:
        with contextlib.closing(self._drive(op)) as steps:
            for kind, value in steps:
                if kind == _RETURN:
                    return cast(T, value)
                raise StreamingOperationError("this operation emits values: iterate it")
        raise AssertionError("unreachable")

    def iterate(self, op: Operation[Any]) -> Iterator[Any]:
        # Closed with the iteration, even one left early: the operation's response goes too.
        with contextlib.closing(self._drive(op)) as steps:
            for kind, value in steps:
                if kind == _EMIT:
                    yield value

    def _drive(self, op: Operation[Any]) -> Generator[tuple[str, Any], None, None]:
        opened: dict[int, tuple[httpx.Response, Iterator[str]]] = {}
        try:
            result: Any = None
            error: BaseException | None = None
            while True:
                try:
                    step = op.throw(error) if error is not None else op.send(result)
                except StopIteration as stop:
                    yield _RETURN, stop.value
                    return
                result, error = None, None
                if isinstance(step, Emit):
                    yield _EMIT, step.value
                    continue
                try:
                    result = self._perform(step, opened)
                except httpx.TransportError as exc:
                    error = exc
        finally:
            op.close()
            for response, _ in opened.values():
                response.close()

    def _perform(self, step: Step, opened: dict[int, tuple[httpx.Response, Iterator[str]]]) -> Any:
        if isinstance(step, Send):
            upload = step.request.upload
            content = _upload_chunks(upload) if upload is not None else None
            request = _build(self.http, self.base_url, self.headers, step.request, content)
            response = self.http.send(request, stream=step.stream)
            if step.stream:
                if not response.is_success:
                    try:
                        response.read()
                    finally:
                        response.close()
                else:
                    opened[id(response)] = (response, response.iter_lines())
            return response
        if isinstance(step, Sleep):
            time.sleep(max(0.0, step.seconds))
            return None
        if isinstance(step, NextLine):
            _, lines = opened[id(step.response)]
            return next(lines, None)
        if isinstance(step, SaveBody):
            written = 0
            with open(step.path, "wb") as fh:
                for chunk in step.response.iter_bytes():
                    fh.write(chunk)
                    written += len(chunk)
            return written
        if isinstance(step, Close):
            opened.pop(id(step.response), None)
            step.response.close()
            return None
        raise TypeError(f"unknown step {step!r}")


class AsyncDriver:
    def __init__(self, http: httpx.AsyncClient, base_url: str, headers: dict[str, str]) -> None:
        self.http = http
        self.base_url = base_url
        self.headers = headers

    async def run(self, op: Operation[T]) -> T:
        async with contextlib.aclosing(self._drive(op)) as steps:
            async for kind, value in steps:
                if kind == _RETURN:
                    return cast(T, value)
                raise StreamingOperationError("this operation emits values: iterate it")
        raise AssertionError("unreachable")

    async def iterate(self, op: Operation[Any]) -> AsyncIterator[Any]:
        async with contextlib.aclosing(self._drive(op)) as steps:
            async for kind, value in steps:
                if kind == _EMIT:
                    yield value

    async def _drive(self, op: Operation[Any]) -> AsyncGenerator[tuple[str, Any], None]:
        opened: dict[int, tuple[httpx.Response, AsyncIterator[str]]] = {}
        try:
            result: Any = None
            error: BaseException | None = None
            while True:
                try:
                    step = op.throw(error) if error is not None else op.send(result)
                except StopIteration as stop:
                    yield _RETURN, stop.value
                    return
                result, error = None, None
                if isinstance(step, Emit):
                    yield _EMIT, step.value
                    continue
                try:
                    result = await self._perform(step, opened)
                except httpx.TransportError as exc:
                    error = exc
        finally:
            op.close()
            for response, _ in opened.values():
                await response.aclose()

    async def _perform(
        self, step: Step, opened: dict[int, tuple[httpx.Response, AsyncIterator[str]]]
    ) -> Any:
        import asyncio  # here: the blocking client never pays for importing it

        if isinstance(step, Send):
            upload = step.request.upload
            content = _upload_chunks_async(upload) if upload is not None else None
            request = _build(self.http, self.base_url, self.headers, step.request, content)
            response = await self.http.send(request, stream=step.stream)
            if step.stream:
                if not response.is_success:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                else:
                    opened[id(response)] = (response, response.aiter_lines())
            return response
        if isinstance(step, Sleep):
            await asyncio.sleep(max(0.0, step.seconds))
            return None
        if isinstance(step, NextLine):
            _, lines = opened[id(step.response)]
            return await anext(lines, None)
        if isinstance(step, SaveBody):
            written = 0
            fh = await asyncio.to_thread(open, step.path, "wb")
            try:
                async for chunk in step.response.aiter_bytes():
                    await asyncio.to_thread(fh.write, chunk)
                    written += len(chunk)
            finally:
                await asyncio.to_thread(fh.close)
            return written
        if isinstance(step, Close):
            opened.pop(id(step.response), None)
            await step.response.aclose()
            return None
        raise TypeError(f"unknown step {step!r}")
