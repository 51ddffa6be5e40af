"""The caps on what a job may keep of what it wrote (`kernel.files` finds it)."""

from __future__ import annotations

from pyexec.core.files import human_bytes

__all__ = ["ArtifactBudget"]


class ArtifactBudget:
    """The per-job caps: at most `max_files` artifacts and `max_bytes` in all."""

    def __init__(self, max_files: int, max_bytes: int) -> None:
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.files = 0
        self.bytes = 0

    def refuse(self, size: int) -> str | None:
        """Why an artifact of `size` bytes cannot be kept, or None after counting it in."""
        if self.files >= self.max_files:
            return f"the job's cap of {self.max_files} artifacts was reached"
        if self.bytes + size > self.max_bytes:
            return (
                f"it would take the job's artifacts over their cap of {human_bytes(self.max_bytes)}"
            )
        self.files += 1
        self.bytes += size
        return None
