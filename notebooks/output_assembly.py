"""Kernel outputs → outputs nbformat v4 accepts, assembled the way nbclient assembles them."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from nbformat import NotebookNode, from_dict

__all__ = ["OutputAssembler", "is_json_mimetype", "normalise_mimebundle"]

log = logging.getLogger(__name__)

_RICH = frozenset({"execute_result", "display_data"})


def is_json_mimetype(mimetype: str) -> bool:
    """The mimetypes whose values the schema lets be any JSON (e.g. dataresource tables)."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _is_textual(mimetype: str) -> bool:
    return mimetype.startswith("text/") or mimetype in {"image/svg+xml", "application/javascript"}


def _mime_value(mimetype: str, value: Any) -> Any:
    if is_json_mimetype(mimetype):
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str):
            # Some kernels send JSON mimetypes pre-serialised; readers expect the object.
            try:
                return json.loads(value)
            except ValueError:
                return value
        return copy.deepcopy(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    if isinstance(value, bytes | bytearray):
        if _is_textual(mimetype):
            return bytes(value).decode("utf-8", errors="replace")
        return base64.b64encode(bytes(value)).decode("ascii")
    # Anything else would fail validation; its JSON text is the most faithful string form.
    return json.dumps(value, sort_keys=True, default=str)


def normalise_mimebundle(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Text as strings (not line lists), JSON mimetypes as objects, binary as base64."""
    return {str(k): _mime_value(str(k), v) for k, v in (data or {}).items()}


def _metadata(out: Mapping[str, Any]) -> dict[str, Any]:
    meta = out.get("metadata")
    return copy.deepcopy(dict(meta)) if isinstance(meta, Mapping) else {}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _traceback(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [_text(line) for line in value]
    return []


def _display_id(out: Mapping[str, Any]) -> str | None:
    # `transient` may be present but None (nbclient guards against the same).
    transient = out.get("transient")
    if isinstance(transient, Mapping):
        display_id = transient.get("display_id")
        return str(display_id) if display_id else None
    return None


class OutputAssembler:
    """Turns one notebook's raw outputs, cell by cell, into schema-valid outputs.

    Stateful across cells because `update_display_data` (and a later display with the same
    display id) rewrites earlier outputs anywhere in the notebook, as nbclient does.
    """

    def __init__(self) -> None:
        self._displays: dict[str, list[NotebookNode]] = {}

    def cell_outputs(
        self, raw: Iterable[Mapping[str, Any]], execution_count: int | None
    ) -> list[NotebookNode]:
        outs: list[NotebookNode] = []
        clear_pending = False
        for out in raw:
            output_type = out.get("output_type")
            display_id = _display_id(out)
            if output_type == "clear_output":
                if out.get("wait"):
                    clear_pending = True
                else:
                    outs.clear()
                continue
            if display_id and output_type in _RICH | {"update_display_data"}:
                self._update_displays(display_id, out)
            if output_type == "update_display_data":
                continue
            node = self._normalise(out, execution_count)
            if node is None:
                continue
            if clear_pending:
                outs.clear()
                clear_pending = False
            if display_id and output_type in _RICH:
                self._displays.setdefault(display_id, []).append(node)
            outs.append(node)
        return _merge_streams(outs)

    def _update_displays(self, display_id: str, out: Mapping[str, Any]) -> None:
        for node in self._displays.get(display_id, []):
            node["data"] = from_dict(normalise_mimebundle(out.get("data")))
            node["metadata"] = from_dict(_metadata(out))

    @staticmethod
    def _normalise(out: Mapping[str, Any], execution_count: int | None) -> NotebookNode | None:
        # Each branch rebuilds the output from the keys its schema allows: kernels and
        # callers add others (`transient`, `status`, `engine_info`) that fail validation.
        output_type = out.get("output_type")
        node: dict[str, Any]
        if output_type == "stream":
            node = {
                "output_type": "stream",
                "name": str(out.get("name") or "stdout"),
                "text": _text(out.get("text")),
            }
        elif output_type == "execute_result":
            count = out.get("execution_count")
            node = {
                "output_type": "execute_result",
                "execution_count": count if isinstance(count, int) else execution_count,
                "data": normalise_mimebundle(out.get("data")),
                "metadata": _metadata(out),
            }
        elif output_type == "display_data":
            node = {
                "output_type": "display_data",
                "data": normalise_mimebundle(out.get("data")),
                "metadata": _metadata(out),
            }
        elif output_type == "error":
            node = {
                "output_type": "error",
                "ename": _text(out.get("ename")),
                "evalue": _text(out.get("evalue")),
                "traceback": _traceback(out.get("traceback")),
            }
        else:
            log.warning("dropping output of unknown type %r", output_type)
            return None
        built: NotebookNode = from_dict(node)
        return built


def _merge_streams(outs: list[NotebookNode]) -> list[NotebookNode]:
    # A kernel flushes a loop of prints as many small messages; Jupyter frontends save
    # consecutive chunks of one stream as one output, and so do we.
    merged: list[NotebookNode] = []
    for out in outs:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and out.output_type == "stream"
            and prev.output_type == "stream"
            and prev.name == out.name
        ):
            prev["text"] = prev.text + out.text
        else:
            merged.append(out)
    return merged
