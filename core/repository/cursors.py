"""Pagination cursors of jobs and files: (created_at, id), opaque to clients."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from pyexec.core.models import File, Job


def encode_cursor(row: Job | File) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for anything that is not a cursor this API issued."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, job_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(job_id)
    except Exception as exc:
        raise ValueError("invalid cursor") from exc
