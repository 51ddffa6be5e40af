"""A schemathesis check, loaded by the CLI run of test_openapi_fuzz through its `hooks` setting."""

from __future__ import annotations

import os
from pathlib import Path

import schemathesis
from schemathesis import Case, CheckContext, Response

# The test reads this back to know that the check was loaded and saw error responses.
SEEN_LOG = os.environ.get("PYEXEC_FUZZ_SEEN_LOG")


@schemathesis.check
def error_body_shape(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """API.md: every error is {"error": {"code", "message", "status"[, "details"]}}."""
    if response.status_code < 400:
        return None
    if SEEN_LOG:
        with Path(SEEN_LOG).open("a") as log:
            log.write(f"{response.status_code}\n")
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the error model: {body}"
    error = body["error"]
    assert set(error) <= {"code", "message", "status", "details"}, f"unknown fields: {error}"
    assert isinstance(error.get("code"), str) and error["code"], f"no code: {error}"
    assert isinstance(error.get("message"), str) and error["message"], f"no message: {error}"
    assert error.get("status") == response.status_code, f"status differs: {error}"
    for detail in error.get("details") or []:
        assert {"field", "problem"} <= set(detail), f"bad detail: {detail}"
    return None
