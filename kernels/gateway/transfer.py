"""`ChannelFiles`: a remote kernel's work dir, reached over the kernel's own channel.

A kernel on a gateway (a Kubernetes pod) shares no disk with the worker unless a volume is
configured for it (then `kernels.workdir.HostWorkDir` serves, see `GatewayLauncher`). Without
one, files travel as silent cells: the worker has the kernel evaluate the source of
`kernels.gateway.kernel_files` with one operation (as a cell's `user_expressions`, which skip
IPython's slow cell transforms), and the kernel answers with display data.

* Chunked: inputs go in pieces of `PUT_CHUNK_BYTES`, outputs come back in pieces of
  `READ_CHUNK_BYTES` (base64 inside JSON: a third more on the wire).
* Size-capped: the worker asks for no more than the listed size of a file (the job's artifact
  caps refuse files before they are read) and refuses a file that is not exactly that size.
* Checksummed: every file's SHA-256 is compared at the end, both ways.

The kernel runs the job's code, so nothing it answers is trusted: names are checked like a
host scan's (`usable_name`, relative, no `..`), sizes and sums are checked here, and what comes
back is spooled to a private temporary file before it reaches storage.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import tempfile
from collections.abc import AsyncIterator, Collection
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from pyexec.kernels.errors import KernelDiedError
from pyexec.kernels.files import (
    MAX_FOUND_FILES,
    MAX_NOTED,
    Collected,
    FileUnavailableError,
    FoundFile,
    KernelFiles,
)
from pyexec.kernels.gateway.kernel_files import RESULT_MIME
from pyexec.kernels.workdir import EvaluateInKernel, StopKernel, usable_name

PUT_CHUNK_BYTES = 4 * 1024 * 1024
READ_CHUNK_BYTES = 4 * 1024 * 1024
CALL_TIMEOUT_SECONDS = 120.0
MAX_NAME_CHARS = 4096


def _kernel_source() -> str:
    return resources.files("pyexec.kernels.gateway").joinpath("kernel_files.py").read_text()


class ChannelFiles(KernelFiles):
    """One gateway kernel's work dir, over its channel. `spool_dir`: a private local
    directory for files on their way to storage."""

    def __init__(
        self,
        evaluate: EvaluateInKernel,
        stop: StopKernel,
        spool_dir: Path,
        *,
        timeout: float = CALL_TIMEOUT_SECONDS,
    ) -> None:
        self._evaluate = evaluate
        self._stop = stop
        self._spool_dir = Path(spool_dir)
        self._timeout = timeout
        self._collecting = False
        self._source = _kernel_source()

    async def put(self, name: str, source: Path, *, mode: int = 0o444) -> int:
        if not name or "/" in name or name in (".", "..") or "\x00" in name:
            raise FileUnavailableError(f"not a plain file name: {name!r}")
        digest = hashlib.sha256()
        size = 0
        src = await asyncio.to_thread(open, source, "rb")
        with src:
            chunk = await asyncio.to_thread(src.read, PUT_CHUNK_BYTES)
            while True:
                following = await asyncio.to_thread(src.read, PUT_CHUNK_BYTES) if chunk else b""
                digest.update(chunk)
                last = not following
                args: dict[str, Any] = {
                    "op": "put",
                    "name": name,
                    "offset": size,
                    "data": base64.b64encode(chunk).decode("ascii"),
                    "last": last,
                }
                size += len(chunk)
                if last:
                    args.update(size=size, sha256=digest.hexdigest(), mode=mode)
                answer = await self._call(args)
                if answer.get("size") != size:
                    raise FileUnavailableError(f"'{name}' was not written whole in the kernel")
                if last:
                    return size
                chunk = following

    @contextlib.asynccontextmanager
    async def collect(self, exclude: Collection[str]) -> AsyncIterator[Collected]:
        try:
            try:
                answer = await self._call({"op": "list", "exclude": sorted(exclude)})
            except FileUnavailableError as exc:
                yield Collected(refused=str(exc))
                return
            collected = _collected(answer)
            collected._opener = self
            self._collecting = True
            try:
                yield collected
            finally:
                self._collecting = False
                collected._opener = None
        finally:
            # Collecting ends the job's code for good, as on every backend.
            await self._stop()

    @contextlib.asynccontextmanager
    async def open_found(self, found: FoundFile) -> AsyncIterator[BinaryIO]:
        if not self._collecting:
            raise FileUnavailableError("files are read only while they are collected")
        spool = await asyncio.to_thread(tempfile.TemporaryFile, dir=self._spool_dir)
        try:
            await self._fetch(found, spool)
            spool.seek(0)
            yield spool  # type: ignore[misc]
        finally:
            spool.close()

    async def _fetch(self, found: FoundFile, spool: Any) -> None:
        digest = hashlib.sha256()
        offset = 0
        while True:
            length = min(READ_CHUNK_BYTES, found.bytes - offset)
            answer = await self._call(
                {"op": "read", "name": found.name, "offset": offset, "length": length}
            )
            if answer.get("size") != found.bytes:
                raise FileUnavailableError(f"'{found.name}' changed after it was listed")
            try:
                data = base64.b64decode(str(answer.get("data", "")), validate=True)
            except ValueError:
                raise FileUnavailableError(f"'{found.name}' came back garbled") from None
            if len(data) > length or (not data and length):
                raise FileUnavailableError(f"'{found.name}' came back cut short or too long")
            await asyncio.to_thread(spool.write, data)
            digest.update(data)
            offset += len(data)
            if offset >= found.bytes:
                break
        if answer.get("sha256") != digest.hexdigest():
            raise FileUnavailableError(f"'{found.name}' arrived damaged (SHA-256 differs)")

    async def _call(self, args: dict[str, Any]) -> dict[str, Any]:
        # One expression, evaluated by plain `eval` (a cell's source would go through
        # IPython's transforms: seconds per megabyte of chunk).
        expression = (
            f"exec(compile({self._source!r}, '<pyexec-transfer>', 'exec'), "
            f"{{'ARGS': __import__('json').loads({json.dumps(args)!r})}})"
        )
        try:
            execution = await self._evaluate({"pyexec_transfer": expression}, self._timeout)
        except KernelDiedError as exc:
            raise FileUnavailableError(f"the kernel is gone ({exc})") from None
        if execution.status != "ok":
            detail = execution.error.message if execution.error else execution.status
            raise FileUnavailableError(f"the kernel could not {args['op']} files: {detail}")
        for output in execution.outputs:
            answer = (output.get("data") or {}).get(RESULT_MIME)
            if isinstance(answer, dict):
                if "error" in answer:
                    error = str(answer["error"])[:500]
                    raise FileUnavailableError(f"the kernel could not {args['op']}: {error}")
                return answer
        raise FileUnavailableError(f"the kernel did not answer the {args['op']} request")


def _collected(answer: dict[str, Any]) -> Collected:
    """The kernel's listing, checked as if the kernel were hostile."""
    collected = Collected(truncated=bool(answer.get("truncated")))
    seen: set[str] = set()
    for item in answer.get("files") or []:
        name, size = _entry(item)
        bad_size = not isinstance(size, int) or isinstance(size, bool) or size < 0
        if name is None or bad_size or name in seen:
            collected.skip(_printable(item), "not kept: the kernel listed it oddly")
            continue
        if not usable_name(name):
            collected.skip(_printable(name), "its name cannot be served")
            continue
        if len(collected.files) >= MAX_FOUND_FILES:
            collected.truncated = True
            break
        seen.add(name)
        collected.files.append(FoundFile(name, size))
    for item in (answer.get("skipped") or [])[:MAX_NOTED]:
        name, why = _entry(item)
        if name is not None and isinstance(why, str):
            collected.skip(_printable(name), why[:200])
    more = answer.get("skipped_more")
    if isinstance(more, int) and more > 0:
        collected.skipped_more += more
    collected.files.sort(key=lambda f: f.name)
    return collected


def _entry(item: Any) -> tuple[str | None, Any]:
    if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
        return None, None
    name = item[0]
    parts = name.split("/")
    if len(name) > MAX_NAME_CHARS or any(p in ("", ".", "..") for p in parts) or "\x00" in name:
        return None, None
    return name, item[1]


def _printable(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:200].encode(errors="replace").decode(errors="replace")
