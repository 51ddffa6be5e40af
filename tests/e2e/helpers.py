"""Steps the browser tests share: signing in, waiting for a job's page to settle."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import expect

from tests.e2e.browser import TIMEOUT_MS, Watched
from tests.integration.api.dashboard_client import PASSWORD

JOB_URL = re.compile(r"/jobs/[0-9a-f-]{36}$")
FINAL = ("completed", "failed", "cancelled")


def sign_in(tab: Watched, email: str, password: str = PASSWORD) -> None:
    tab.goto("/signin")
    tab.page.get_by_label("Email", exact=True).fill(email)
    tab.page.get_by_label("Password", exact=True).fill(password)
    tab.page.get_by_role("button", name="Sign in").click()
    tab.page.wait_for_url("**/jobs")


def wait_for_status(tab: Watched, *statuses: str, timeout_ms: int = TIMEOUT_MS * 2) -> str:
    """Wait, without reloading, until the job page's status badge shows one of `statuses`."""
    pattern = re.compile("^(" + "|".join(statuses) + ")$")
    expect(tab.page.locator("#job-status")).to_have_text(pattern, timeout=timeout_ms)
    return tab.page.locator("#job-status").inner_text().strip()


def record_statuses(tab: Watched) -> None:
    """Keep every status the page's badge shows in `window.__statuses`, and mark the page so
    that a reload (which would drop the mark) is seen."""
    tab.page.evaluate(
        """() => {
            window.__pageMark = "kept";
            window.__statuses = [];
            const record = () => {
                const badge = document.getElementById("job-status");
                const text = badge && badge.textContent.trim();
                const seen = window.__statuses;
                if (text && seen[seen.length - 1] !== text) seen.push(text);
            };
            record();
            new MutationObserver(record).observe(document.body, {
                subtree: true, childList: true, characterData: true,
            });
        }"""
    )


def api_wait(api: httpx.Client, job_id: str, status: str, timeout: float = 90) -> dict:
    """Poll the API until the job has `status` (a started job is not final: no ?wait=)."""
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == status or time.monotonic() > deadline:
            return job
        time.sleep(0.1)
