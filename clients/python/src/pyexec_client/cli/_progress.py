"""Live progress of a job in the terminal, from its event stream: the status, each cell as it
runs, and what the cell prints as it prints it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.text import Text

from pyexec_client.cli._common import safe_text
from pyexec_client.cli._render import status_text
from pyexec_client.models import (
    CancelRequestedEvent,
    CellFinishedEvent,
    CellStartedEvent,
    JobData,
    JobEvent,
    OutputEvent,
    ResultEvent,
    StatusEvent,
)

MAX_SOURCE_LINES = 12
MAX_VALUE_LINES = 20
TABLE_MIME = "application/vnd.dataresource+json"


class Progress:
    """Draws events on `console` (stderr: stdout keeps the result); returns the ended job."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status = "pending"
        self.cell: int | None = None
        self.started = time.monotonic()
        self._partial = ""  # streamed text of the current cell not yet ended by a newline

    def follow(self, events: Iterable[JobEvent]) -> JobData | None:
        with self.console.status(self._line(), spinner="dots") as spinner:
            for event in events:
                if isinstance(event, ResultEvent):
                    self._flush()
                    return event.job
                self._show(event)
                spinner.update(self._line())
        self._flush()
        return None

    def _line(self) -> Text:
        line = status_text(self.status)
        if self.cell is not None and self.status == "running":
            line.append(f"  cell {self.cell}", style="bold")
        line.append(f"  {time.monotonic() - self.started:.0f} s", style="dim")
        return line

    def _show(self, event: JobEvent) -> None:
        print_ = self.console.print
        if isinstance(event, StatusEvent):
            self._flush()
            self.status = event.status
            print_(status_text(event.status))
        elif isinstance(event, CellStartedEvent):
            self._flush()
            self.cell = event.cell
            print_(Text(f"── cell {event.cell} ", style="bold cyan") + Text("─" * 20, style="cyan"))
            print_(_source(event.source))
        elif isinstance(event, OutputEvent):
            self._output(event)
        elif isinstance(event, CellFinishedEvent):
            self._flush()
            if event.status != "ok":
                print_(Text(f"cell {event.cell}: {safe_text(event.status)}", style="bold red"))
        elif isinstance(event, CancelRequestedEvent):
            self._flush()
            print_(Text("cancel requested", style="yellow"))

    def _output(self, event: OutputEvent) -> None:
        output = event.output
        kind = event.output_type
        if kind == "stream":
            style = "red" if output.get("name") == "stderr" else ""
            self._stream(safe_text(str(output.get("text", ""))), style)
            return
        self._flush()
        if kind == "error":
            self.console.print(Text(safe_text(event.text), style="bold red"))
            return
        data: dict[str, Any] = output.get("data") or {}
        if TABLE_MIME in data:
            rows = len((data[TABLE_MIME] or {}).get("data") or [])
            self.console.print(Text(f"[table, {rows} rows]", style="cyan"))
        elif any(k.startswith("image/") for k in data):
            kind = next(k for k in data if k.startswith("image/"))
            self.console.print(Text(f"[{kind}]", style="cyan"))
        elif "text/plain" in data:
            self.console.print(_clip(safe_text(str(data["text/plain"])), MAX_VALUE_LINES))

    def _stream(self, text: str, style: str) -> None:
        # Whole lines only: a half line would be torn by the spinner redrawing below it.
        text = self._partial + text
        done, _, self._partial = text.rpartition("\n")
        if done or text.endswith("\n"):
            self.console.print(Text(done, style=style))

    def _flush(self) -> None:
        if self._partial:
            self.console.print(Text(self._partial))
            self._partial = ""


def _source(source: str) -> Text:
    lines = safe_text(source).splitlines() or [""]
    shown = lines[:MAX_SOURCE_LINES]
    text = Text("\n".join(f"│ {line}" for line in shown), style="dim")
    if len(lines) > len(shown):
        text.append(f"\n│ … {len(lines) - len(shown)} more lines", style="dim italic")
    return text


def _clip(text: str, max_lines: int) -> Text:
    lines = text.splitlines()
    if len(lines) <= max_lines:
        return Text(text)
    return Text("\n".join(lines[:max_lines])) + Text(
        f"\n… {len(lines) - max_lines} more lines", style="dim italic"
    )
