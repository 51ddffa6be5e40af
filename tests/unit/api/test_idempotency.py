from __future__ import annotations

from pyexec.api.idempotency import fingerprint
from pyexec.api.schemas import JobCreate


def test_fingerprint_compares_what_the_job_would_be() -> None:
    plain = fingerprint(JobCreate(code="1"))
    assert plain == fingerprint(JobCreate(code="1", priority=5, file_ids=[]))
    assert plain == fingerprint(JobCreate.model_validate({"priority": 5, "code": "1"}))
    assert plain != fingerprint(JobCreate(code="2"))
    assert plain != fingerprint(JobCreate(code="1", priority=6))
