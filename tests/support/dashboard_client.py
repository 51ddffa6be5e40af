"""A browser's part in dashboard tests that need no browser: cookies, forms and their CSRF
tokens, over a real server socket.

Each client comes from its own IP address (X-Forwarded-For, which uvicorn honours from
loopback, as it would from a reverse proxy on the same host), so that one test's failed
sign-ins never throttle another's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import re
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from tests.support.servers import Server

T = TypeVar("T")
PASSWORD = "a sturdy passphrase"
_addresses = itertools.count(1)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def new_ip() -> str:
    n = next(_addresses)
    return f"198.18.{n // 250 % 250}.{n % 250 + 1}"


def new_email(label: str = "person") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


def run_sync(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from sync code, also where a loop already runs in this
    thread (Playwright's sync API keeps one): in a thread of its own."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def create_person(server: Server, *, plan: str = "pro", password: str = PASSWORD) -> str:
    """A new account with a dashboard password; its email."""
    from pyexec.admin import create_account

    email = new_email()
    run_sync(create_account(server.settings(), email, plan, password))
    return email


def create_key(server: Server, email: str, plan: str = "pro") -> str:
    """An API key of the account (created if missing), as `pyexec keys create` makes one."""
    from pyexec.admin import create_key as admin_create_key

    _, plaintext = run_sync(admin_create_key(server.settings(), email, plan, "test"))
    return plaintext


def csrf_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, f"no CSRF token in the page:\n{html[:2000]}"
    return found.group(1)


@dataclass
class Visitor:
    """One browser: a cookie jar and an address."""

    client: httpx.Client
    ip: str

    @classmethod
    def of(cls, server: Server, ip: str | None = None) -> Visitor:
        address = ip or new_ip()
        client = httpx.Client(
            base_url=server.url,
            headers={"X-Forwarded-For": address, "Accept": "text/html"},
            follow_redirects=False,
            timeout=60,
        )
        return cls(client, address)

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def token(self, path: str = "/signin") -> str:
        page = self.get(path)
        assert page.status_code == 200, (path, page.status_code, page.text[:500])
        return csrf_token(page.text)

    def sign_in(
        self, email: str, password: str = PASSWORD, next_path: str = "/jobs"
    ) -> httpx.Response:
        token = self.token("/signin")
        return self.client.post(
            "/signin",
            data={"csrf_token": token, "email": email, "password": password, "next": next_path},
        )

    def signed_in(self, email: str, password: str = PASSWORD) -> Visitor:
        response = self.sign_in(email, password)
        assert response.status_code == 303, response.text[:1000]
        return self

    def post_form(
        self, path: str, data: dict[str, Any] | None = None, *, token_from: str = "/jobs"
    ) -> httpx.Response:
        """Post a form as the page at `token_from` would (with that page's CSRF token)."""
        body = {"csrf_token": self.token(token_from), **(data or {})}
        return self.client.post(path, data=body)

    @property
    def session_cookie(self) -> str | None:
        return self.client.cookies.get("pyexec_session")

    def set_session_cookie(self, token: str) -> None:
        """Put a session token in the jar, as the server's own cookie would be."""
        self.client.cookies.set("pyexec_session", token, domain="127.0.0.1", path="/")


@dataclass
class LiveEvent:
    event: str
    id: str | None
    data: str


def live_events(visitor: Visitor, job_id: str, last_event_id: str | None = None) -> list[LiveEvent]:
    """A job page's live stream (`/jobs/{id}/live`) read to its end: its events, HTML data."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[LiveEvent] = []
    with visitor.client.stream("GET", f"/jobs/{job_id}/live", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        data: list[str] = []
        for line in response.iter_lines():
            if line == "":
                if data:
                    kind = fields.get("event", "message")
                    events.append(LiveEvent(kind, fields.get("id"), "\n".join(data)))
                fields, data = {}, []
                continue
            name, _, value = line.partition(": ")
            if name == "data":
                data.append(value)
            elif name in ("event", "id"):
                fields[name] = value
        return events


def execute(server: Server, sql: str, **params: Any) -> None:
    """Run one SQL statement on the server's database and commit it."""
    from sqlalchemy import text

    from pyexec.core.db import Database

    async def run() -> None:
        db = Database(server.settings().db_url)
        try:
            async with db.engine.begin() as conn:
                await conn.execute(text(sql), params)
        finally:
            await db.dispose()

    run_sync(run())
