"""Schemathesis over the app's own OpenAPI schema: every /v1 operation, stateless, with a valid
business key. No 500s, every error in the API.md shape, only documented statuses.

It runs the schemathesis CLI against a real server (its pytest plugin does not work with the
pytest here), with every built-in check plus `fuzz_checks.error_body_shape`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import ROOT, Server, run_job

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Bounded so that the run takes well under two minutes on two cores: a hundred examples per
# operation, one kernel, and a business plan whose timeout cap is tiny, so that every job the
# fuzzer submits ends within seconds.
MAX_EXAMPLES = 100
FUZZ_ENV = {
    "PYEXEC_KERNEL_POOL_SIZE": "1",
    "PYEXEC_PLANS": json.dumps({"business": {"max_job_timeout": 3}}),
}
# Valid JSON that the schema cannot call invalid but the API rightly refuses with a documented
# 400 (an opaque cursor it did not issue, neither prompt nor code, a blank prompt, code or
# parent_job_id): schema-valid is not the same as acceptable, so 400 counts as an answer here.
# Prompt jobs are accepted (the offline planner answers them) and fail or complete as jobs.
ACCEPTED_FOR_VALID_DATA = ["2xx", "400", "401", "403", "404", "409", "429"]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(Path(tmp_path_factory.mktemp("fuzz")), FUZZ_ENV).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_every_v1_operation_holds_the_contract(fuzz_server: Server, tmp_path: Path) -> None:
    key = fuzz_server.create_key("fuzz@example.com", "business")
    with fuzz_server.client(key) as client:
        # A real, finished job, so that the job paths reach more than their 404.
        job = run_job(client, {"code": "1"})
    assert job["status"] == "completed", job
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"""
hooks = "tests.integration.api.fuzz_checks"
headers = {{ Authorization = "Bearer {key}" }}
request-timeout = 30
generation.max-examples = {MAX_EXAMPLES}
generation.database = "none"
phases.stateful.enabled = false

[parameters]
"path.job_id" = "{job["id"]}"

[checks.positive_data_acceptance]
expected-statuses = {json.dumps(ACCEPTED_FOR_VALID_DATA)}
"""
    )
    seen_log = tmp_path / "errors-seen.log"
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{fuzz_server.url}/openapi.json",
            "--include-path-regex",
            "^/v1(/|$)",
            "--seed",
            "20261201",
            "--continue-on-failure",
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
            "PYEXEC_FUZZ_SEEN_LOG": str(seen_log),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    selected = re.search(r"Selected: (\d+)/", report)
    tested = re.search(r"Tested: (\d+)", report)
    assert selected and tested and selected.group(1) == tested.group(1), report
    statuses = seen_log.read_text().split()
    # The error check ran, over more than one kind of error.
    assert {"400", "404"} <= set(statuses), sorted(set(statuses))
