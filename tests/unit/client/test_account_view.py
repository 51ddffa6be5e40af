"""The account as the SDK reads it from the API's JSON, and as `pyexec account` draws it."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from pyexec_client import Account
from pyexec_client.cli._render import account_table, human_seconds

NOW = datetime(2026, 12, 2, 18, 29, 30, tzinfo=UTC)


def account_json(**usage: Any) -> dict[str, Any]:
    return {
        "id": "acc-1",
        "email": "ana@example.com",
        "plan": "free",
        "limits": {
            "requests_per_day": 100,
            "max_running_jobs": 1,
            "max_job_timeout_seconds": 60,
            "max_upload_bytes": 10_000_000,
            "max_storage_bytes": 500_000_000,
        },
        "usage": {
            "requests_today": 12,
            "requests_reset_at": "2026-12-03T00:00:00Z",
            "storage_bytes": 1_250_000,
            **usage,
        },
    }


def drawn(account: Account) -> str:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system="standard")
    console.print(account_table(account, now=NOW))
    return out.getvalue()


def plain(text: str) -> list[str]:
    return [line.rstrip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()]


def test_an_account_from_the_api() -> None:
    data = account_json()
    data["usage"]["a_newer_field"] = 1
    account = Account.from_dict(data)
    assert (account.id, account.email, account.plan) == ("acc-1", "ana@example.com", "free")
    assert account.limits.requests_per_day == 100 and account.limits.max_running_jobs == 1
    assert account.usage.requests_reset_at == datetime(2026, 12, 3, tzinfo=UTC)
    assert account.usage.extra == {"a_newer_field": 1}
    assert not account.unlimited and account.requests_remaining == 88
    assert account.storage_remaining == 500_000_000 - 1_250_000
    assert account.to_dict() == data  # what --json prints, untouched


def test_an_unlimited_account() -> None:
    data = account_json(requests_today=None, requests_reset_at=None)
    data["limits"]["requests_per_day"] = None
    account = Account.from_dict(data)
    assert account.unlimited and account.requests_remaining is None
    assert "REQUESTS TODAY   unlimited (not counted)" in plain(drawn(account))


def test_the_account_in_a_terminal() -> None:
    assert plain(drawn(Account.from_dict(account_json()))) == [
        "ACCOUNT          acc-1",
        "EMAIL            ana@example.com",
        "PLAN             free",
        "REQUESTS TODAY   12 of 100, 88 left, resets 2026-12-03 00:00:00Z (in 5 h 31 min)",
        "STORAGE          1.2 MB of 500.0 MB, 498.8 MB left",
        "RUNNING JOBS     up to 1 at once",
        "JOB TIMEOUT      up to 1 min",
        "UPLOADS          up to 10.0 MB a file",
    ]


def test_a_limit_near_or_reached_stands_out() -> None:
    yellow, red = "\x1b[33m", "\x1b[1;31m"
    calm = drawn(Account.from_dict(account_json()))
    assert yellow not in calm and red not in calm
    near = drawn(Account.from_dict(account_json(requests_today=85)))
    assert f"{yellow}85 of 100" in near and red not in near
    spent = drawn(Account.from_dict(account_json(requests_today=100, storage_bytes=500_000_000)))
    assert f"{red}100 of 100" in spent and f"{red}500.0 MB of 500.0 MB" in spent
    assert "0 left" in plain(spent)[3] and "0 B left" in plain(spent)[4]


def test_text_from_the_server_cannot_drive_the_terminal() -> None:
    account = Account.from_dict({**account_json(), "email": "\x1b]0;owned\x07ana@example.com"})
    assert "\x1b]0" not in drawn(account) and "owned" not in drawn(account)


def test_durations() -> None:
    assert [human_seconds(s) for s in (45, 60, 90, 600, 3_600, 5_400, 86_400)] == [
        "45 s",
        "1 min",
        "90 s",
        "10 min",
        "1 h",
        "90 min",
        "24 h",
    ]
