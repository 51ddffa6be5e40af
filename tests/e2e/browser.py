"""Debian's Chromium driven by Playwright (from PyPI; never `playwright install`), and what a
test watches of a page: console messages, dialogs, errors, requests that leave the server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Playwright, Request

CHROMIUM = Path("/usr/bin/chromium")
# ENVIRONMENT.md: what Chromium needs here (root, no GPU, small /dev/shm, no network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
# Generous: CI's machine is loaded, and a job's kernel may be busy.
TIMEOUT_MS = 60_000


def launch(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: install Debian's chromium (make test does: apt-get install "
            "chromium); these tests never download a browser"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@dataclass
class Watched:
    """A page and everything it did that a test may want to deny."""

    page: Page
    base_url: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    blocked_by_csp: list[str] = field(default_factory=list)
    shots: Path | None = None

    def attach(self) -> Watched:
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._on_dialog)
        self.page.on("request", self._on_request)
        self.page.on("requestfailed", self._on_request_failed)
        self.page.set_default_timeout(TIMEOUT_MS)
        return self

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_request(self, request: Request) -> None:
        url = request.url
        if not url.startswith((self.base_url, "data:", "about:", "blob:")):
            self.outside_requests.append(url)

    def _on_request_failed(self, request: Request) -> None:
        # Chromium reports a load the page's CSP refused as a request that failed with
        # "csp": it never left the browser, so it is no request out.
        if request.failure == "csp" and request.url in self.outside_requests:
            self.outside_requests.remove(request.url)
            self.blocked_by_csp.append(request.url)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    def screenshot(self, name: str) -> Path | None:
        if self.shots is None:
            return None
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe_violations(self, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
        """axe-core's violations of the current page at these impacts (injected by the test:
        DevTools evaluation is not subject to the page's CSP)."""
        self.page.evaluate(AXE.read_text())
        found = self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.html),
                }));
            }"""
        )
        return [
            f"{v['impact']} {v['id']}: {v['help']} {v['nodes']}"
            for v in found
            if v["impact"] in impacts
        ]


@contextmanager
def watched_page(
    browser: Browser, base_url: str, *, ip: str, shots: Path | None = None
) -> Iterator[Watched]:
    """A fresh browser profile (its own cookies) coming from its own address."""
    context = browser.new_context(
        base_url=base_url,
        viewport={"width": 1280, "height": 900},
        extra_http_headers={"X-Forwarded-For": ip},
        accept_downloads=True,
    )
    # For the copy button (the tests read back what it copied).
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        yield Watched(context.new_page(), base_url, shots=shots).attach()
    finally:
        context.close()
