"""`client.account.get()` and `pyexec account` against the real server: the plan, its limits,
the requests counted today and the storage used, for a counted and an unlimited plan."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pyexec_client import (
    Account,
    AsyncPyExec,
    AuthenticationError,
    PyExec,
)
from tests.integration.client.test_cli import PYEXEC
from tests.support.servers import Server


def free_key(server: Server) -> tuple[str, str]:
    email = f"free-{uuid.uuid4().hex[:8]}@example.com"
    return email, server.create_key(email, plan="free")


def next_utc_midnight() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def test_a_counted_plan_shows_each_request_and_the_storage(server: Server, tmp_path: Path) -> None:
    email, key = free_key(server)
    with PyExec(api_key=key, base_url=server.url) as client:
        first = client.account.get()
        assert isinstance(first, Account)
        assert (first.email, first.plan, first.unlimited) == (email, "free", False)
        assert first.limits.requests_per_day == 100
        assert first.usage.requests_today == 1 and first.requests_remaining == 99  # itself
        reset = first.usage.requests_reset_at
        assert reset is not None and reset.tzinfo is not None
        # Read close to midnight, the window may have turned between the two clocks.
        assert abs((reset - next_utc_midnight()).total_seconds()) in (0, 86_400)
        assert first.usage.storage_bytes == 0
        assert first.storage_remaining == first.limits.max_storage_bytes > 0
        assert first.limits.max_upload_bytes <= first.limits.max_storage_bytes
        assert first.limits.max_running_jobs >= 1 and first.limits.max_job_timeout_seconds >= 1

        data = tmp_path / "data.bin"
        data.write_bytes(b"x" * 12_345)
        client.files.upload(data)
        second = client.account.get()
    assert second.usage.requests_today == 3  # the account, the upload, the account again
    assert second.usage.storage_bytes == 12_345
    assert second.storage_remaining == second.limits.max_storage_bytes - 12_345
    # What --json prints: the API's object as it came.
    raw = httpx.get(
        f"{server.url}/v1/account", headers={"Authorization": f"Bearer {key}"}, timeout=30
    ).json()
    assert set(second.to_dict()) == set(raw) and second.to_dict()["limits"] == raw["limits"]
    assert second.extra == {} and second.limits.extra == {} and second.usage.extra == {}


async def test_an_unlimited_plan_over_the_async_client(
    server: Server, async_sdk: AsyncPyExec
) -> None:
    account = await async_sdk.account.get()
    assert account.plan == "business" and account.unlimited
    assert account.limits.requests_per_day is None and account.usage.requests_today is None
    assert account.usage.requests_reset_at is None and account.requests_remaining is None


def test_any_valid_key_reads_its_account_and_no_other(server: Server, sdk: PyExec) -> None:
    reader = sdk.api_keys.create("reader", scopes=["jobs:read"])
    with PyExec(api_key=reader.key, base_url=server.url) as limited:
        assert limited.account.get().id == sdk.account.get().id
        sdk.api_keys.revoke(reader.id)
        with pytest.raises(AuthenticationError):
            limited.account.get()
    _, other = free_key(server)
    with PyExec(api_key=other, base_url=server.url) as stranger:
        assert stranger.account.get().id != sdk.account.get().id


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_the_account_command(server: Server, key: str, tmp_path: Path) -> None:
    email, free = free_key(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYEXEC_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    env.update(PYEXEC_BASE_URL=server.url, PYEXEC_API_KEY=free, COLUMNS="120")

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYEXEC, *args], env={**env, **extra}, capture_output=True, text=True, timeout=120
        )

    shown = run("account")
    assert shown.returncode == 0, shown.stderr
    lines = {line.split("   ")[0].strip(): line for line in shown.stdout.splitlines()}
    assert email in lines["EMAIL"] and lines["PLAN"].split()[-1] == "free"
    resets = r"resets \d{4}-\d\d-\d\d 00:00:00Z \(in (\d+ h )?\d+ min\)"
    assert re.search(rf"REQUESTS TODAY\s+1 of 100, 99 left, {resets}", shown.stdout)
    assert re.search(r"STORAGE\s+0 B of 500\.0 MB, 500\.0 MB left", shown.stdout), shown.stdout
    assert re.search(r"RUNNING JOBS\s+up to 1 at once", shown.stdout)
    assert re.search(r"JOB TIMEOUT\s+up to 1 min", shown.stdout)
    assert re.search(r"UPLOADS\s+up to 10\.0 MB a file", shown.stdout)

    as_json = run("account", "--json")
    assert as_json.returncode == 0, as_json.stderr
    account = json.loads(as_json.stdout)  # stdout is the API's object alone
    assert account["email"] == email and account["usage"]["requests_today"] == 2
    assert account["limits"]["requests_per_day"] == 100

    unlimited = run("account", PYEXEC_API_KEY=key)
    assert re.search(r"REQUESTS TODAY\s+unlimited", unlimited.stdout), unlimited.stdout
    assert re.search(r"PLAN\s+business", unlimited.stdout)
    refused = run("account", PYEXEC_API_KEY="pyex_" + "x" * 43)
    assert refused.returncode == 3 and "Invalid" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert re.search(r"^\s+account\s+your account", run("--help").stdout, re.MULTILINE)
