"""A stand-in for the `pyexec` command, speaking the contract the benchmark relies on.

    python fake_pyexec.py serve               # HTTP on PYEXEC_HOST:PYEXEC_PORT
    python fake_pyexec.py keys create ...     # prints a key, last line of stdout

It lets the benchmark's server handling be tested before (and apart from) the real service.
`FAKE_PYEXEC_JOB_STATUS` sets the final status of every job (default completed).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

READY_AFTER_SECONDS = 0.3  # /readyz answers 503 until then, as a real start-up would
REFILL_SECONDS = 0.2  # /metrics shows a kernel starting for this long after each job


def _key_file() -> Path:
    return Path(os.environ["PYEXEC_DATA_DIR"], "fake-key")


class _Handler(BaseHTTPRequestHandler):
    started = time.monotonic()
    last_job = 0.0
    jobs: dict[str, dict[str, object]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict[str, object]) -> None:
        self._send_bytes(status, json.dumps(body).encode(), "application/json")

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        expected = f"Bearer {_key_file().read_text().strip()}"
        if self.headers.get("Authorization") == expected:
            return True
        self._send(401, {"error": {"code": "unauthorized", "message": "no", "status": 401}})
        return False

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/readyz":
            ready = time.monotonic() - self.started > READY_AFTER_SECONDS
            self._send(200 if ready else 503, {"ready": ready})
        elif path == "/metrics":
            self._send_metrics()
        elif path.startswith("/v1/jobs/") and self._authorised():
            job = self.jobs.get(path.rsplit("/", 1)[-1])
            if job is None:
                self._send(404, {"error": {"code": "not_found", "message": "", "status": 404}})
                return
            job["status"] = os.environ.get("FAKE_PYEXEC_JOB_STATUS", "completed")
            self._send(200, job)

    def _send_metrics(self) -> None:
        # The pool refills for REFILL_SECONDS after each job is submitted, as a real one would.
        refilling = time.monotonic() - self.last_job < REFILL_SECONDS
        counts = {"idle": 1 if refilling else 2, "starting": int(refilling), "leased": 0}
        data = "".join(
            f'pyexec_kernel_pool_kernels{{state="{state}"}} {n}.0\n' for state, n in counts.items()
        ).encode()
        self._send_bytes(200, data, "text/plain; version=0.0.4")

    def do_POST(self) -> None:
        if urlsplit(self.path).path == "/v1/jobs" and self._authorised():
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            job: dict[str, object] = {"id": str(uuid.uuid4()), "status": "pending", **body}
            job["error_message"] = None
            self.jobs[str(job["id"])] = job
            _Handler.last_job = time.monotonic()
            self._send(201, job)


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        server = ThreadingHTTPServer(
            (os.environ["PYEXEC_HOST"], int(os.environ["PYEXEC_PORT"])), _Handler
        )
        server.serve_forever()
    elif argv[:2] == ["keys", "create"]:
        key = f"pyex_{uuid.uuid4().hex}{uuid.uuid4().hex}"
        _key_file().write_text(key)
        print("Created key for bench@example.com (plan business). Shown once:")
        print(key)
    else:
        print(f"unknown command {argv}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
