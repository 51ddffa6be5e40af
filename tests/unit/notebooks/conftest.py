"""Transcripts shaped like what a real ipykernel sends (captured from ipykernel 7, trimmed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pyexec.notebooks import CellRecord, Transcript

# A real one-pixel PNG.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg"
    "=="
)

TABLE_OUTPUT: dict[str, Any] = {
    "output_type": "execute_result",
    "execution_count": 2,
    "metadata": {},
    "data": {
        "text/plain": ["   a  b\n", "0  1  x\n", "1  2  y"],
        "text/html": '<div><table class="dataframe"><tr><td>1</td></tr></table></div>',
        "application/vnd.dataresource+json": {
            "schema": {
                "fields": [
                    {"name": "index", "type": "integer"},
                    {"name": "a", "type": "integer"},
                    {"name": "b", "type": "string"},
                ],
                "primaryKey": ["index"],
                "pandas_version": "1.4.0",
            },
            "data": [{"index": 0, "a": 1, "b": "x"}, {"index": 1, "a": 2, "b": "y"}],
        },
    },
}

IMAGE_OUTPUT: dict[str, Any] = {
    "output_type": "display_data",
    "metadata": {"image/png": {"width": 1, "height": 1}},
    "transient": {},
    "data": {"text/plain": "<Figure size 640x480 with 1 Axes>", "image/png": PNG_B64},
}

ERROR_OUTPUT: dict[str, Any] = {
    "output_type": "error",
    "ename": "ZeroDivisionError",
    "evalue": "division by zero",
    "traceback": [
        "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
        "\x1b[31mZeroDivisionError\x1b[39m: division by zero",
    ],
    # What an execute_reply adds; not allowed in a notebook output.
    "status": "error",
    "engine_info": {"engine_id": -1},
}

TIMING = {
    "iopub.status.busy": "2024-01-15T10:30:01.000100Z",
    "iopub.execute_input": "2024-01-15T10:30:01.000200Z",
    "shell.execute_reply": "2024-01-15T10:30:01.010000Z",
    "iopub.status.idle": "2024-01-15T10:30:01.011000Z",
}


@pytest.fixture
def png_b64() -> str:
    return PNG_B64


@pytest.fixture
def make_transcript() -> Callable[..., Transcript]:
    """A completed four-cell analysis; keyword arguments override Transcript fields."""

    def make(**overrides: Any) -> Transcript:
        cells = [
            CellRecord(
                "code",
                "import pandas as pd\nprint('loaded')",
                outputs=[{"output_type": "stream", "name": "stdout", "text": "loaded\n"}],
                execution_count=1,
                timing=dict(TIMING),
            ),
            CellRecord("code", "df", outputs=[TABLE_OUTPUT], execution_count=2, timing=TIMING),
            CellRecord("code", "df.plot()", outputs=[IMAGE_OUTPUT], execution_count=3),
            CellRecord("markdown", "Revenue is highest in **March**."),
        ]
        fields: dict[str, Any] = {
            "job_id": "a1b2c3d4-0000-4000-8000-000000000001",
            "title": "Sales Data Analysis",
            "status": "completed",
            "cells": cells,
            "created_at": datetime(2024, 1, 15, 10, 30, 0, tzinfo=UTC),
            "started_at": datetime(2024, 1, 15, 10, 30, 1, tzinfo=UTC),
            "completed_at": datetime(2024, 1, 15, 10, 30, 3, 250000, tzinfo=UTC),
            "prompt": "Analyze the attached CSV\nand return summary statistics",
        }
        fields.update(overrides)
        return Transcript(**fields)

    return make


@pytest.fixture
def error_output() -> dict[str, Any]:
    return dict(ERROR_OUTPUT)


@pytest.fixture
def table_output() -> dict[str, Any]:
    return dict(TABLE_OUTPUT)


@pytest.fixture
def image_output() -> dict[str, Any]:
    return dict(IMAGE_OUTPUT)
