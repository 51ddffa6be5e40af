from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime

from pyexec.kernels import Execution, ExecutionError
from pyexec.worker.agent.summary import (
    NO_OUTPUT,
    OUTPUT_CHARS,
    clip,
    summarise_execution,
    summarise_outputs,
)


def png_of(width: int, height: int) -> str:
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
    header += struct.pack(">II", width, height) + b"\x08\x06\x00\x00\x00"
    return base64.b64encode(header + b"\x00" * 200).decode()


def test_clip_keeps_the_head_and_the_tail() -> None:
    text = "A" * 5000 + "Z" * 5000
    clipped = clip(text, 1000)
    assert clipped.startswith("A" * 666) and clipped.endswith("Z" * 334)
    assert "[9,000 characters omitted]" in clipped
    assert clip("short", 1000) == "short"


def test_streams_merge_tables_are_text_images_are_named() -> None:
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "\x1b[32mrows:\x1b[0m "},
        {"output_type": "stream", "name": "stdout", "text": "3\n"},
        {
            "output_type": "execute_result",
            "data": {
                "text/plain": "   a\n0  1",
                "text/html": "<table>...</table>",
                "application/vnd.dataresource+json": {"data": []},
            },
        },
        {"output_type": "display_data", "data": {"image/png": png_of(640, 480)}},
    ]
    assert summarise_outputs(outputs) == (
        "rows: 3\n   a\n0  1\n[image/png image, 640x480 px: shown to the user in the notebook]"
    )
    assert summarise_outputs([]) == NO_OUTPUT


def test_long_output_is_clipped() -> None:
    summary = summarise_outputs([{"output_type": "stream", "text": "x" * (OUTPUT_CHARS * 3)}])
    assert len(summary) < OUTPUT_CHARS + 100 and "characters omitted" in summary


def test_errors_carry_exception_and_traceback_without_ansi() -> None:
    traceback = [
        "\x1b[0;31m---------\x1b[0m",
        "Cell \x1b[0;32mIn[2], line 3\x1b[0m\n----> 3 print(1 / 0)",
        "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero",
    ]
    output = {
        "output_type": "error",
        "ename": "ZeroDivisionError",
        "evalue": "division by zero",
        "traceback": traceback,
    }
    now = datetime.now(UTC)
    execution = Execution(
        status="error",
        outputs=[{"output_type": "stream", "name": "stdout", "text": "before\n"}, output],
        execution_count=2,
        error=ExecutionError.from_content(output, 2),
        started_at=now,
        finished_at=now,
        duration_ms=1,
    )
    summary = summarise_execution(execution)
    assert summary.startswith(
        "The cell raised an error (ZeroDivisionError: division by zero (line 3)).\nbefore\n"
    )
    assert "Traceback:\n" in summary and "----> 3 print(1 / 0)" in summary
    assert "\x1b" not in summary
