"""Server-Sent Events, decoded line by line as the HTML standard says.

A block of `field: value` lines ends at an empty line. `data:` lines join with newlines; `id:`
sets the id to resume after (`Last-Event-ID`); `retry:` sets the reconnection delay; lines
starting with `:` are comments (PyExec's keep-alives). A block without data dispatches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServerSentEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None


@dataclass
class SseDecoder:
    retry_ms: int | None = None  # the last `retry:` the server sent
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None
    _has_id: bool = False

    def feed(self, line: str) -> ServerSentEvent | None:
        """One line (without its line break); the event it completes, if any."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id, self._has_id = value, True
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, name = self._data, self._event
        event_id = self._id if self._has_id else None
        self._data, self._event, self._id, self._has_id = [], "", None, False
        if not data:
            return None
        return ServerSentEvent(event=name or "message", data="\n".join(data), id=event_id)
