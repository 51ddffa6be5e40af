"""Fixtures of the browser tests: one real PyExec server (whose model is the scripted LLM
server, reached with the real `openai` client), one Chromium, a fresh profile per test."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.browser import Watched, launch, watched_page
from tests.support.llm_server import ScriptedLLM
from tests.support.servers import Server

_addresses = itertools.count(1)


@pytest.fixture(scope="session")
def llm() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLM) -> Iterator[Server]:
    env = {
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": "scripted",
        "PYEXEC_LLM_MODEL": "scripted",
        # One running job per account, so that a second one is seen waiting (pending).
        "PYEXEC_PLANS": json.dumps({"pro": {"max_running_jobs": 1}}),
        "PYEXEC_SIGNIN_ACCOUNT_ATTEMPTS": "3",
    }
    srv = Server(Path(tmp_path_factory.mktemp("e2e-data")), env_overrides=env).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests leave a screenshot of every page they visit (test artifacts)."""
    path = Path(tmp_path_factory.getbasetemp()) / "e2e-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_ip() -> str:
    # Each profile has its own address: one test's failed sign-ins never throttle another's.
    n = next(_addresses) + os.getpid() % 200
    return f"198.19.{n // 250 % 250}.{n % 250 + 1}"


@pytest.fixture
def tab(
    browser: Browser, e2e_server: Server, screenshots: Path, request: pytest.FixtureRequest
) -> Iterator[Watched]:
    shots = screenshots / request.node.name
    with watched_page(browser, e2e_server.url, ip=new_ip(), shots=shots) as watched:
        try:
            yield watched
        finally:
            watched.screenshot("last")
