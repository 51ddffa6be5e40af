"""Logging for `pyexec serve`, `api` and `worker`: configured once, text or one JSON object a line.

`PYEXEC_LOG_FORMAT=json` writes each record as one line of JSON: `time` (RFC 3339, UTC),
`level`, `logger`, `message`, the context fields known where it was logged (`request_id`,
`job_id`, `account_id`), `exc_info` (the traceback's text) for an exception, and any `extra=`
fields. The context lives in a contextvar: the API binds the request's id (and the caller's
account once authenticated); the worker binds the job's id, its account and the id of the request
that created it (carried through the queue, see `core.job_context`), so every line logged while
it runs, down to the kernel's, says which job it was for.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
CONTEXT_FIELDS = ("request_id", "job_id", "account_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# One dict per request or job; `annotate` adds to it in place, so that what a request learns
# late (its account) is seen by the lines its outer middleware logs after the response too.
_context: ContextVar[dict[str, str] | None] = ContextVar("pyexec_log_context", default=None)

# Attributes every LogRecord has: anything else on a record came from `extra=` (except
# uvicorn's `color_message`, the message again with terminal colours).
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName", "color_message", *CONTEXT_FIELDS}
)


def current() -> dict[str, str]:
    """The context fields bound here (a copy)."""
    return dict(_context.get() or {})


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Add context fields (None ones are skipped) for the lines logged inside the block."""
    token = _context.set({**(_context.get() or {}), **_given(fields)})
    try:
        yield
    finally:
        _context.reset(token)


def annotate(**fields: str | None) -> None:
    """Add context fields to the context bound around the caller (the request's, the job's)."""
    bound = _context.get()
    if bound is None:
        _context.set(_given(fields))
    else:
        bound.update(_given(fields))


def _given(fields: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value is not None}


class ContextFilter(logging.Filter):
    """Stamps the bound context fields on each record (a handler's filter: it runs for every
    record the handler writes, in the task that logged it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRS and name not in entry:
                entry[name] = value
        return json.dumps(entry, default=str, ensure_ascii=False)


def _rfc3339(created: float) -> str:
    stamp = datetime.fromtimestamp(created, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


_format: LogFormat = "text"


def configure(level: str, log_format: LogFormat) -> None:
    """The process's logging: one handler on the root logger (stderr), which uvicorn's loggers
    reach too (see `pyexec.http.server_config`). Called once, by the command line."""
    global _format
    _format = log_format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def announce(message: str, *, error: bool = False) -> None:
    """A line the operator must see whatever the log level (a banner, a refusal to start):
    printed as it is in text format; in json format, one JSON line like the logs'."""
    stream = sys.stderr if error else sys.stdout
    if _format == "json":
        level = logging.ERROR if error else logging.INFO
        record = logging.LogRecord("pyexec", level, "", 0, message.strip(), None, None)
        ContextFilter().filter(record)
        message = JsonFormatter().format(record)
    print(message, file=stream, flush=True)
