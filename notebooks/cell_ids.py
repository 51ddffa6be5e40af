"""Deterministic nbformat 4.5 cell ids, so one transcript always builds the same bytes."""

from __future__ import annotations

import hashlib
import re

__all__ = ["derive_cell_id", "is_valid_cell_id"]

_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def is_valid_cell_id(cell_id: str) -> bool:
    return bool(_CELL_ID.match(cell_id))


def derive_cell_id(job_id: str, index: int) -> str:
    """An id for the cell at `index` (0 is the title cell) of job `job_id`.

    Hashed rather than spliced from the job id, because job ids are not promised to be made
    of the characters (or fit the length) a cell id allows.
    """
    digest = hashlib.sha256(f"{job_id}\x00{index}".encode()).hexdigest()
    return digest[:16]
