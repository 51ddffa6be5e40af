"""The messages between the service and its zygote: one JSON object per line.

Requests carry an `id` and get exactly one reply with the same `id`; the zygote also sends
events of its own (`ready`, `exit`, `setup`). Kept tiny and stdlib-only: both sides use it.
"""

from __future__ import annotations

import json
from typing import Any

# Requests (service -> zygote)
CONFIGURE = "configure"  # first message, no reply: {warmup}
# fork a kernel: {kernel_id, connection_file, cwd, env, jail, log_file}; the reply is {pid},
# plus {init}: the kernel itself, when `pid` forked it into a PID namespace of its own
SPAWN = "spawn"
SIGNAL = "signal"  # signal a kernel's process group: {pid, signal}

# Events (zygote -> service)
READY = "ready"  # the zygote is warm: {pid, seconds, preloaded, threads}
EXIT = "exit"  # a kernel process ended: {pid, status} (Popen returncode convention)
SETUP = "setup"  # a kernel could not enter its sandbox or start: {pid, error}

MAX_LINE = 1 << 20


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message
