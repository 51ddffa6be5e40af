"""What the model is told about a cell it ran: its outputs as compact text.

Text is cut in the middle (the start says what ran, the end usually holds the answer or the
exception); tables arrive as pandas' own text rendering; images as one line naming their
size; errors as the exception and its traceback without ANSI colours.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from pyexec.kernels import Execution, strip_ansi

OUTPUT_CHARS = 4_000  # one output
SUMMARY_CHARS = 8_000  # everything one cell tells the model
TRACEBACK_CHARS = 3_000
NO_OUTPUT = "(the cell ran without output)"


def clip(text: str, limit: int) -> str:
    """`text` at most about `limit` characters: its head and tail, with a marker between."""
    if len(text) <= limit:
        return text
    head = text[: limit * 2 // 3]
    tail = text[-(limit - len(head)) :]
    omitted = len(text) - len(head) - len(tail)
    return f"{head}\n… [{omitted:,} characters omitted] …\n{tail}"


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def image_size(mime: str, payload: str) -> tuple[int, int] | None:
    """Width and height of a base64 PNG, read from its header."""
    if mime != "image/png":
        return None
    try:
        header = base64.b64decode(payload[:64] + "=" * (-len(payload[:64]) % 4))
    except ValueError:
        return None
    if len(header) >= 24 and header[:8] == b"\x89PNG\r\n\x1a\n":
        width, height = struct.unpack(">II", header[16:24])
        return width, height
    return None


def describe_rich(data: dict[str, Any]) -> str | None:
    for mime in ("image/png", "image/jpeg", "image/svg+xml"):
        if mime in data:
            size = image_size(mime, _text(data[mime]))
            dims = f", {size[0]}x{size[1]} px" if size else ""
            return f"[{mime} image{dims}: shown to the user in the notebook]"
    if "text/plain" in data:
        return _text(data["text/plain"])
    if "text/markdown" in data:
        return _text(data["text/markdown"])
    if "text/html" in data:
        return "[HTML output]"
    return None


def describe_error(output: dict[str, Any]) -> str:
    traceback = strip_ansi("\n".join(_text(t) for t in output.get("traceback") or []))
    head = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".rstrip(": ")
    if not traceback.strip():
        return head
    return f"{head}\nTraceback:\n{clip(traceback, TRACEBACK_CHARS)}"


def summarise_outputs(outputs: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    stream: list[str] = []

    def flush() -> None:
        if stream:
            parts.append(clip(strip_ansi("".join(stream)), OUTPUT_CHARS))
            stream.clear()

    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            stream.append(_text(output.get("text", "")))
            continue
        flush()
        if kind in ("execute_result", "display_data"):
            text = describe_rich(output.get("data") or {})
            if text:
                parts.append(clip(strip_ansi(text), OUTPUT_CHARS))
        elif kind == "error":
            parts.append(describe_error(output))
    flush()
    summary = "\n".join(p.rstrip("\n") for p in parts if p.strip())
    return clip(summary, SUMMARY_CHARS) if summary else NO_OUTPUT


def summarise_execution(execution: Execution) -> str:
    """The tool result for one `run_python` call."""
    summary = summarise_outputs(execution.outputs)
    if execution.status == "error" and execution.error is not None:
        has_error_output = any(o.get("output_type") == "error" for o in execution.outputs)
        if not has_error_output:
            summary += f"\n{execution.error.ename}: {execution.error.evalue}"
        return f"The cell raised an error ({execution.error.message}).\n{summary}"
    return summary
