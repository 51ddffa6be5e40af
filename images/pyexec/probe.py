#!/usr/bin/env python3
"""`pyexec-probe`: the Kubernetes probe of a `pyexec worker` container (no HTTP port of its own).

With `PYEXEC_METRICS_PORT` set, the worker serves `/metrics` there, and the probe asks it
(a hung event loop then fails the probe). Without it, the probe checks that the `pyexec
worker` process is there and neither a zombie nor stopped. Exit 0: healthy; 1: not.
Standard library only: it runs every few seconds and must start fast.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

TIMEOUT_SECONDS = 3.0


def metrics_answer(port: str) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token := os.environ.get("PYEXEC_METRICS_TOKEN"):
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as r:
            return r.status == 200
    except OSError:
        return False


def worker_alive() -> bool:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if any(a.endswith((b"pyexec", b"pyexec-server")) for a in argv) and b"worker" in argv:
            return state not in ("Z", "T", "X")
    return False


def main() -> int:
    port = os.environ.get("PYEXEC_METRICS_PORT")
    healthy = metrics_answer(port) if port else worker_alive()
    if not healthy:
        print("pyexec worker is not healthy", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
