"""Steps the browser tests share: signing in, waiting for a job's page to settle, the docs'
screenshots."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.browser import TIMEOUT_MS, Watched
from tests.support.dashboard_client import PASSWORD
from tests.support.servers import ROOT

DOCS_IMAGES = ROOT / "docs" / "images"
# The docs' screenshots are committed; a run rewrites them only when asked, so that `make
# test` leaves the checkout as it found it.
UPDATE_DOCS_SCREENSHOTS = os.environ.get("PYEXEC_UPDATE_DOCS_SCREENSHOTS") == "1"
DOCS_SCREENSHOT_COLORS = 64

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


def docs_screenshot(tab: Watched, name: str, bottom_of: str) -> Path | None:
    """The page from its top down to the bottom of `bottom_of`, as a small PNG (a palette of
    64 colours) for the docs: written to docs/images/ when PYEXEC_UPDATE_DOCS_SCREENSHOTS=1,
    else among the test's screenshots. None when the test keeps no screenshots."""
    target = DOCS_IMAGES if UPDATE_DOCS_SCREENSHOTS else tab.shots
    if target is None:
        return None
    bottom = tab.page.locator(bottom_of).first.evaluate(
        "el => el.getBoundingClientRect().bottom + window.scrollY"
    )
    width = tab.page.evaluate("document.documentElement.clientWidth")
    raw = tab.page.screenshot(
        full_page=True, clip={"x": 0, "y": 0, "width": width, "height": bottom + 24}
    )
    image = Image.open(io.BytesIO(raw)).convert("RGB").quantize(DOCS_SCREENSHOT_COLORS)
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    image.save(path, optimize=True)
    return path
