"""Kernel outputs (nbformat dicts) → the job's `outputs` (API.md) and image artifacts."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

TEXT_CAP_BYTES = 100_000
TABLE_ROW_CAP = 1_000
TRUNCATION_MARKER = "\n… [output truncated: {dropped} more bytes]"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

TABLE_MIME = "application/vnd.dataresource+json"
IMAGE_MIMES = {"image/png": "png", "image/svg+xml": "svg", "image/jpeg": "jpg"}


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def cap_text(text: str, limit: int = TEXT_CAP_BYTES) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    kept = raw[:limit].decode(errors="ignore")
    return kept + TRUNCATION_MARKER.format(dropped=len(raw) - len(kept.encode()))


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


@dataclass
class ImageArtifact:
    name: str
    media_type: str
    data: bytes


@dataclass
class OutputCollector:
    """Accumulates one job's outputs across cells; images become numbered artifacts."""

    job_id: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    images: list[ImageArtifact] = field(default_factory=list)

    def add(self, cell: int, output: dict[str, Any]) -> None:
        kind = output.get("output_type")
        if kind == "stream":
            self.outputs.append(
                {
                    "cell": cell,
                    "type": "text",
                    "name": output.get("name", "stdout"),
                    "text": cap_text(_text(output.get("text", ""))),
                }
            )
        elif kind == "error":
            self.outputs.append(
                {
                    "cell": cell,
                    "type": "error",
                    "ename": output.get("ename", ""),
                    "evalue": output.get("evalue", ""),
                    "traceback": strip_ansi("\n".join(output.get("traceback", []))),
                }
            )
        elif kind in ("execute_result", "display_data"):
            self._add_rich(cell, output.get("data", {}))

    def _add_rich(self, cell: int, data: dict[str, Any]) -> None:
        if TABLE_MIME in data and isinstance(data[TABLE_MIME], dict):
            self.outputs.append({"cell": cell, "type": "table", **table_of(data[TABLE_MIME])})
            return
        for mime, ext in IMAGE_MIMES.items():
            if mime in data:
                name = f"figure-{len(self.images) + 1}.{ext}"
                payload = _text(data[mime])
                raw = payload.encode() if mime == "image/svg+xml" else base64.b64decode(payload)
                self.images.append(ImageArtifact(name, mime, raw))
                self.outputs.append(
                    {
                        "cell": cell,
                        "type": "image",
                        "media_type": mime,
                        "name": name,
                        "url": f"/v1/jobs/{self.job_id}/artifacts/{name}",
                    }
                )
                return
        if "text/html" in data:
            self.outputs.append(
                {"cell": cell, "type": "html", "html": cap_text(_text(data["text/html"]))}
            )
        elif "application/json" in data:
            self.outputs.append({"cell": cell, "type": "json", "json": data["application/json"]})
        elif "text/markdown" in data:
            self.outputs.append(
                {"cell": cell, "type": "markdown", "text": cap_text(_text(data["text/markdown"]))}
            )
        elif "text/plain" in data:
            self.outputs.append(
                {
                    "cell": cell,
                    "type": "text",
                    "name": "result",
                    "text": cap_text(_text(data["text/plain"])),
                }
            )


def table_of(resource: dict[str, Any]) -> dict[str, Any]:
    fields = resource.get("schema", {}).get("fields", [])
    columns = [str(f.get("name")) for f in fields]
    records = resource.get("data", [])
    rows = [[record.get(c) for c in columns] for record in records[:TABLE_ROW_CAP]]
    return {"columns": columns, "rows": rows, "total_rows": len(records)}


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
