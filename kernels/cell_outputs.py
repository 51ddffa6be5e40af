"""Turning IOPub messages into nbformat v4 outputs, the way nbclient does."""

from __future__ import annotations

from typing import Any

OUTPUT_MSG_TYPES = frozenset(
    {"stream", "display_data", "execute_result", "error", "update_display_data", "clear_output"}
)
# A cell may print without bound (a loop gone wrong, or on purpose: 50 MB of stdout). Past
# this much stream text per cell the rest is counted, not kept, so the execution, the job's
# notebook and its live events stay bounded; `finish()` says how much was dropped.
MAX_STREAM_CHARS = 1_000_000


class CellOutputCollector:
    """Accumulates a cell's outputs.

    `add` returns the output to announce live (or None): for streams that is the new chunk
    alone, even though the stored output merges consecutive chunks of the same stream, so a
    live listener never sees text twice.
    """

    def __init__(self, max_stream_chars: int | None = MAX_STREAM_CHARS) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.max_stream_chars = max_stream_chars
        self.dropped_chars = 0
        self._stream_chars = 0
        self._clear_before_next = False
        self._display_index: dict[str, list[int]] = {}

    def add(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any] | None:
        if msg_type == "clear_output":
            if content.get("wait"):
                self._clear_before_next = True
            else:
                self._clear()
            return None
        if msg_type == "update_display_data":
            return self._update_display(content)

        output = self._to_output(msg_type, content)
        if output is None:
            return None
        if self._clear_before_next:
            self._clear()

        if output["output_type"] == "stream":
            if not self._fit(output):
                return None
            last = self.outputs[-1] if self.outputs else None
            if last and last["output_type"] == "stream" and last["name"] == output["name"]:
                last["text"] += output["text"]
                return dict(output)
            self.outputs.append(output)
            return dict(output)

        display_id = (content.get("transient") or {}).get("display_id")
        if display_id:
            self._display_index.setdefault(display_id, []).append(len(self.outputs))
        self.outputs.append(output)
        return dict(output)

    def finish(self) -> dict[str, Any] | None:
        """Close the cell: the note saying how much stream text was dropped, if any (it is
        also appended to `outputs`)."""
        if not self.dropped_chars:
            return None
        note = {
            "output_type": "stream",
            "name": "stderr",
            "text": f"\n[output truncated: {self.dropped_chars:,} more characters were not kept]\n",
        }
        self.outputs.append(note)
        self.dropped_chars = 0
        return dict(note)

    def _fit(self, output: dict[str, Any]) -> bool:
        """Trim a stream chunk to what the cell may still keep; False if nothing fits."""
        if self.max_stream_chars is None:
            return True
        text: str = output["text"]
        room = self.max_stream_chars - self._stream_chars
        if len(text) > room:
            self.dropped_chars += len(text) - max(room, 0)
            if room <= 0:
                return False
            output["text"] = text = text[:room]
        self._stream_chars += len(text)
        return True

    def _clear(self) -> None:
        self._stream_chars = 0
        self.outputs.clear()
        self._display_index.clear()
        self._clear_before_next = False

    def _update_display(self, content: dict[str, Any]) -> dict[str, Any] | None:
        display_id = (content.get("transient") or {}).get("display_id")
        updated: dict[str, Any] | None = None
        for index in self._display_index.get(display_id or "", []):
            output = self.outputs[index]
            output["data"] = content.get("data", {})
            output["metadata"] = content.get("metadata", {})
            updated = dict(output)
        return updated

    @staticmethod
    def _to_output(msg_type: str, content: dict[str, Any]) -> dict[str, Any] | None:
        if msg_type == "stream":
            return {"output_type": "stream", "name": content["name"], "text": content["text"]}
        if msg_type == "display_data":
            return {
                "output_type": "display_data",
                "data": content.get("data", {}),
                "metadata": content.get("metadata", {}),
            }
        if msg_type == "execute_result":
            return {
                "output_type": "execute_result",
                "execution_count": content.get("execution_count"),
                "data": content.get("data", {}),
                "metadata": content.get("metadata", {}),
            }
        if msg_type == "error":
            return {
                "output_type": "error",
                "ename": content.get("ename", ""),
                "evalue": content.get("evalue", ""),
                "traceback": list(content.get("traceback") or []),
            }
        return None
