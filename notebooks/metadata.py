"""Notebook-level metadata: kernelspec, language_info and the `pyexec` block."""

from __future__ import annotations

import copy
import platform
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from pyexec.notebooks.transcript import Transcript

__all__ = [
    "DEFAULT_KERNELSPEC",
    "as_utc",
    "default_language_info",
    "iso_utc",
    "jsonable",
    "notebook_metadata",
    "pyexec_block",
]

DEFAULT_KERNELSPEC: dict[str, str] = {
    "name": "python3",
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
}


def default_language_info() -> dict[str, Any]:
    """What ipykernel's kernel_info_reply says, for when the caller has no reply to hand."""
    return {
        "name": "python",
        "version": platform.python_version(),
        "mimetype": "text/x-python",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "pygments_lexer": "ipython3",
        "nbconvert_exporter": "python",
        "file_extension": ".py",
    }


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, to the millisecond."""
    if value is None:
        return None
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """A deep copy of `value` that json can write: datetimes as ISO strings, tuples as lists.

    Anything else that is not JSON raises TypeError here, naming the type, rather than deep
    inside nbformat.writes.
    """
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"not JSON-serialisable in notebook metadata: {type(value).__name__}")


def _duration_ms(t: Transcript) -> int | None:
    if t.started_at is None or t.completed_at is None:
        return None
    delta = as_utc(t.completed_at) - as_utc(t.started_at)
    return max(0, round(delta.total_seconds() * 1000))


def pyexec_block(t: Transcript) -> dict[str, Any]:
    own: dict[str, Any] = {
        "job_id": t.job_id,
        "title": t.title,
        "status": t.status,
        "prompt": t.prompt,
        "created_at": iso_utc(t.created_at),
        "started_at": iso_utc(t.started_at),
        "completed_at": iso_utc(t.completed_at),
        "error_message": t.error_message,
    }
    duration = _duration_ms(t)
    if duration is not None:
        own["duration_ms"] = duration
    # The job's own facts win over `extra`, so no caller can make a notebook lie about them.
    return {**jsonable(t.extra), **own}


def notebook_metadata(t: Transcript) -> dict[str, Any]:
    return {
        "kernelspec": copy.deepcopy(dict(t.kernelspec or DEFAULT_KERNELSPEC)),
        "language_info": jsonable(t.language_info or default_language_info()),
        "pyexec": pyexec_block(t),
    }
