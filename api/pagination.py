"""Cursor pagination shared by the list endpoints: newest first, opaque cursors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyexec.api.errors import InvalidRequest
from pyexec.core import repository
from pyexec.core.models import File, Job


def parse_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        return repository.decode_cursor(cursor)
    except ValueError:
        raise InvalidRequest(
            "Invalid cursor; pass the next_cursor of a previous page.",
            details=[{"field": "cursor", "problem": "not a cursor issued by this API"}],
        ) from None


def next_cursor(rows: Sequence[Job | File], limit: int) -> str | None:
    """The cursor after a page fetched with `limit + 1` rows, or None on the last page."""
    return repository.encode_cursor(rows[limit - 1]) if len(rows) > limit else None
