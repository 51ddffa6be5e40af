"""Kernel outputs (nbformat dicts) → the job's `outputs` (API.md, typed in
`core.output_types`) and image artifacts."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pyexec.core.output_types import (
    ErrorOutput,
    HtmlOutput,
    ImageOutput,
    JsonOutput,
    MarkdownOutput,
    Output,
    TableOutput,
    TextOutput,
)
from pyexec.kernels import strip_ansi

TEXT_CAP_BYTES = 100_000  # per cell, over all its text outputs
MAX_OUTPUTS_PER_CELL = 200
# What a notebook keeps of one output's text: more than the job JSON (analysts scroll), but
# a cell printing 50 MB must not make a notebook JupyterLab cannot open.
NOTEBOOK_TEXT_CAP_BYTES = 1_000_000
TABLE_ROW_CAP = 1_000
TRUNCATION_MARKER = "\n… [output truncated: {dropped} more bytes]"

TABLE_MIME = "application/vnd.dataresource+json"
IMAGE_MIMES = {"image/png": "png", "image/svg+xml": "svg", "image/jpeg": "jpg", "image/gif": "gif"}
_FIGURE_NAME = re.compile(r"^figure-(\d+)\.[a-z]+$")


def cap_text(text: str, limit: int = TEXT_CAP_BYTES) -> str:
    raw = text.encode(errors="surrogatepass")
    if len(raw) <= limit:
        return text
    kept = raw[:limit].decode(errors="ignore")
    return kept + TRUNCATION_MARKER.format(dropped=len(raw) - len(kept.encode()))


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def json_safe(value: Any) -> Any:
    """Strict JSON: NaN and ±Infinity (which Python's json writes but no parser accepts)
    become null; anything that is not JSON becomes its string."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def cap_cell_outputs(
    outputs: list[dict[str, Any]], limit: int = NOTEBOOK_TEXT_CAP_BYTES
) -> list[dict[str, Any]]:
    """The outputs a notebook keeps: stream and text results capped per output, with the
    marker. The kernel's outputs are left untouched."""
    capped = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            text = _text(output.get("text", ""))
            if len(text) > limit // 4:
                output = {**output, "text": cap_text(text, limit)}
        elif kind in ("execute_result", "display_data"):
            data = output.get("data") or {}
            long = {
                mime: cap_text(_text(value), limit)
                for mime, value in data.items()
                if mime in ("text/plain", "text/html", "text/markdown")
                and len(_text(value)) > limit // 4
            }
            if long:
                output = {**output, "data": {**data, **long}}
        capped.append(output)
    return capped


@dataclass
class ImageArtifact:
    name: str
    media_type: str
    data: bytes


@dataclass
class JobOutputCollector:
    """Accumulates one job's outputs across cells; images become numbered artifacts.

    Each cell has a text budget (TEXT_CAP_BYTES over all its text, HTML, markdown and JSON)
    and keeps at most MAX_OUTPUTS_PER_CELL outputs: a cell that displays in a loop cannot
    make the job's JSON unbounded. What is left out is counted in one `notice` per cell.
    An error is always kept.
    """

    job_id: str
    outputs: list[Output] = field(default_factory=list)
    images: list[ImageArtifact] = field(default_factory=list)
    _text_left: dict[int, int] = field(default_factory=dict)
    _kept: dict[int, int] = field(default_factory=dict)
    _left_out: dict[int, tuple[TextOutput, int]] = field(default_factory=dict)

    def stored(self) -> list[dict[str, Any]]:
        """The outputs as the job's row keeps them."""
        return [output.stored() for output in self.outputs]

    def add(self, cell: int, output: dict[str, Any]) -> None:
        kind = output.get("output_type")
        if kind == "error":
            self.outputs.append(
                ErrorOutput(
                    cell=cell,
                    ename=output.get("ename", ""),
                    evalue=cap_text(str(output.get("evalue", ""))),
                    traceback=cap_text(strip_ansi("\n".join(output.get("traceback", [])))),
                )
            )
            return
        if kind not in ("stream", "execute_result", "display_data"):
            return
        if self._kept.get(cell, 0) >= MAX_OUTPUTS_PER_CELL:
            self._leave_out(cell)
            return
        if kind == "stream":
            text = self._cap(cell, _text(output.get("text", "")))
            self._keep(TextOutput(cell=cell, name=output.get("name", "stdout"), text=text))
        else:
            self._add_rich(cell, output.get("data") or {}, output.get("metadata") or {})

    def note(self, cell: int, text: str) -> None:
        """A message of PyExec's own about the job (e.g. an artifact left out)."""
        self.outputs.append(TextOutput(cell=cell, name="notice", text=text))

    def _keep(self, output: Output) -> None:
        self._kept[output.cell] = self._kept.get(output.cell, 0) + 1
        self.outputs.append(output)

    def _leave_out(self, cell: int) -> None:
        notice, count = self._left_out.get(cell) or (None, 0)
        if notice is None:
            notice = TextOutput(cell=cell, name="notice", text="")
            self.outputs.append(notice)
        count += 1
        self._left_out[cell] = (notice, count)
        notice.text = (
            f"… [{count} more outputs of this cell left out: a cell keeps at most "
            f"{MAX_OUTPUTS_PER_CELL}]"
        )
        notice.set_extra("left_out", count)

    def _cap(self, cell: int, text: str) -> str:
        """`text` within what is left of the cell's text budget, with the marker if cut."""
        left = self._text_left.get(cell, TEXT_CAP_BYTES)
        capped = cap_text(text, left)
        self._text_left[cell] = max(0, left - len(text.encode(errors="surrogatepass")))
        return capped.removeprefix("\n") if left == 0 else capped

    def _add_rich(self, cell: int, data: dict[str, Any], metadata: dict[str, Any]) -> None:
        if TABLE_MIME in data and isinstance(data[TABLE_MIME], dict):
            table_meta = metadata.get(TABLE_MIME)
            total = table_meta.get("total_rows") if isinstance(table_meta, dict) else None
            self._keep(TableOutput(cell=cell, **table_of(data[TABLE_MIME], total)))
            return
        for mime, ext in IMAGE_MIMES.items():
            if mime in data:
                image = _image_bytes(mime, data[mime])
                if image is None:
                    continue
                name = f"figure-{len(self.images) + 1}.{ext}"
                self.images.append(ImageArtifact(name, mime, image))
                self._keep(
                    ImageOutput(cell=cell, media_type=mime, name=name, url=self.artifact_url(name))
                )
                return
        if "text/html" in data:
            self._keep(HtmlOutput(cell=cell, html=self._cap(cell, _text(data["text/html"]))))
        elif "application/json" in data:
            left = self._text_left.get(cell, TEXT_CAP_BYTES)
            value = _json_of(data["application/json"], left)
            self._text_left[cell] = max(0, left - value.pop("size"))
            self._keep(JsonOutput(cell=cell, **value))
        elif "text/markdown" in data:
            text = self._cap(cell, _text(data["text/markdown"]))
            self._keep(MarkdownOutput(cell=cell, text=text))
        elif "text/plain" in data:
            text = self._cap(cell, _text(data["text/plain"]))
            self._keep(TextOutput(cell=cell, name="result", text=text))

    def artifact_url(self, name: str) -> str:
        return f"/v1/jobs/{self.job_id}/artifacts/{name}"

    def avoid_names(self, taken: set[str]) -> None:
        """Renumber figures whose name a file the job wrote already has (`plt.savefig(
        "figure-1.png")` keeps its name; the inline figure moves to the next free number)."""
        used = {image.name for image in self.images} | taken
        renamed: dict[str, str] = {}
        for image in self.images:
            if image.name not in taken:
                continue
            match = _FIGURE_NAME.match(image.name)
            ext = image.name.rsplit(".", 1)[-1]
            number = int(match.group(1)) if match else len(self.images)
            while f"figure-{number}.{ext}" in used:
                number += 1
            new = f"figure-{number}.{ext}"
            used.add(new)
            renamed[image.name] = new
            image.name = new
        for output in self.outputs:
            if isinstance(output, ImageOutput) and output.name in renamed:
                output.name = renamed[output.name]
                output.url = self.artifact_url(output.name)

    def left_out(self, name: str, reason: str) -> None:
        """An image the artifact caps left out: its output says so instead of a dead URL."""
        for output in self.outputs:
            if isinstance(output, ImageOutput) and output.name == name:
                output.url = None
                output.set_extra("note", reason)


def _image_bytes(mime: str, payload: Any) -> bytes | None:
    text = _text(payload)
    if mime == "image/svg+xml":
        return text.encode()
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return None


def _json_of(value: Any, limit: int) -> dict[str, Any]:
    safe = json_safe(value)
    size = len(json.dumps(safe).encode())
    if size > limit:
        return {"json": None, "truncated": True, "bytes": size, "size": size}
    return {"json": safe, "size": size}


def table_of(resource: dict[str, Any], total_rows: int | None = None) -> dict[str, Any]:
    """columns, JSON-safe rows (at most TABLE_ROW_CAP) and the frame's true length."""
    fields = (resource.get("schema") or {}).get("fields") or []
    columns = [str(f.get("name")) for f in fields if isinstance(f, dict)]
    records = resource.get("data") or []
    rows = [
        [json_safe(record.get(c)) for c in columns]
        for record in records[:TABLE_ROW_CAP]
        if isinstance(record, dict)
    ]
    total = total_rows if isinstance(total_rows, int) and total_rows >= 0 else len(records)
    return {"columns": columns, "rows": rows, "total_rows": total}


def result_text(outputs: list[dict[str, Any]]) -> str:
    """The job's `result` for a code job: the last cell's plain result, else its stdout."""
    plain = [o for o in outputs if o.get("output_type") == "execute_result"]
    if plain:
        return cap_text(_text(plain[-1].get("data", {}).get("text/plain", "")))
    stdout = [
        _text(o.get("text", ""))
        for o in outputs
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    ]
    return cap_text("".join(stdout).rstrip("\n"))
