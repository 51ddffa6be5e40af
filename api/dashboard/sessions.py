"""Dashboard sessions: the cookie, the signed-in visitor, signing in and out.

A session authenticates dashboard pages only: `/v1` reads API keys and nothing else (the
authentication middleware never looks at cookies), so a page can never be turned into an API
client by a forged request. A session has every scope of its account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from pyexec.api.dashboard.forms import read_form
from pyexec.api.dashboard.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfError,
    check_origin,
    cookie_name,
    new_anonymous_token,
    secure_cookies,
    session_csrf_token,
    tokens_match,
)
from pyexec.api.deps import RuntimeDep
from pyexec.core import logs, web_sessions
from pyexec.core.models import Account
from pyexec.core.plans import PlanLimits, plan_limits
from pyexec.core.runtime import Runtime

SESSION_COOKIE = "pyexec_session"
ANONYMOUS_CSRF_COOKIE = "pyexec_csrf"


class SignInRequired(Exception):
    """The page needs a signed-in visitor; they go to the sign-in page, then back to `next`."""

    def __init__(self, next_path: str = "/jobs") -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        return f"/signin?next={quote(self.next_path, safe='/')}"


@dataclass(frozen=True)
class Visitor:
    """A signed-in person: their account, its plan's limits, and their session's token."""

    account: Account
    limits: PlanLimits
    session_token: str

    @property
    def csrf_token(self) -> str:
        return session_csrf_token(self.session_token)


def session_lifetime(runtime: Runtime) -> timedelta:
    return timedelta(days=runtime.settings.session_days)


def session_cookie(runtime: Runtime) -> str:
    return cookie_name(runtime.settings, SESSION_COOKIE)


def anonymous_cookie(runtime: Runtime) -> str:
    return cookie_name(runtime.settings, ANONYMOUS_CSRF_COOKIE)


async def find_visitor(request: Request, runtime: Runtime) -> Visitor | None:
    token = request.cookies.get(session_cookie(runtime))
    if not token or len(token) > 200:
        return None
    now = runtime.clock.now()
    async with runtime.db.session() as session:
        found = await web_sessions.find_session(session, token, now)
        if found is None:
            return None
        row, account = found
        await web_sessions.touch_session(session, row.id, now, session_lifetime(runtime))
        await session.commit()
    logs.annotate(account_id=account.id)  # this request's log lines name the account
    return Visitor(account, plan_limits(runtime.settings, account.plan), token)


def _next_path(request: Request) -> str:
    if request.headers.get("hx-request"):
        # An htmx fragment is no place to come back to: its page is.
        current = request.headers.get("hx-current-url", "")
        path = current.split("://", 1)[-1].partition("/")[2]
        return "/" + path if path else "/jobs"
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


async def current_visitor(request: Request, runtime: RuntimeDep) -> Visitor:
    visitor = await find_visitor(request, runtime)
    if visitor is None:
        raise SignInRequired(_next_path(request))
    request.state.visitor = visitor
    return visitor


CurrentVisitor = Annotated[Visitor, Depends(current_visitor)]


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 32 for ch in value)
    ):
        return "/jobs"
    return value


async def start_session(
    runtime: Runtime, response: Response, account_id: str, old: str | None
) -> None:
    """Sign in: a new session (and a new token) every time, and the old one ends."""
    now = runtime.clock.now()
    token = web_sessions.new_token()
    async with runtime.db.session() as session:
        if old:
            await web_sessions.delete_session(session, old)
        await web_sessions.delete_expired_sessions(session, now)
        await web_sessions.add_session(session, account_id, token, now, session_lifetime(runtime))
        await session.commit()
    response.set_cookie(
        session_cookie(runtime),
        token,
        max_age=int(session_lifetime(runtime).total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(runtime.settings),
    )
    response.delete_cookie(
        anonymous_cookie(runtime), path="/", secure=secure_cookies(runtime.settings)
    )


async def end_session(runtime: Runtime, response: Response, token: str) -> None:
    async with runtime.db.session() as session:
        await web_sessions.delete_session(session, token)
        await session.commit()
    response.delete_cookie(
        session_cookie(runtime),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(runtime.settings),
    )


def anonymous_csrf(request: Request, runtime: Runtime) -> str:
    """The double-submit token of a visitor who is not signed in (made on first sight)."""
    token = request.cookies.get(anonymous_cookie(runtime))
    if not token or len(token) > 100:
        token = new_anonymous_token()
    request.state.new_anonymous_csrf = token
    return token


def keep_anonymous_csrf(request: Request, runtime: Runtime, response: Response) -> None:
    token = getattr(request.state, "new_anonymous_csrf", None)
    if token and request.cookies.get(anonymous_cookie(runtime)) != token:
        response.set_cookie(
            anonymous_cookie(runtime),
            token,
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure_cookies(runtime.settings),
        )


async def check_csrf(request: Request, runtime: Runtime, expected: str, given: str | None) -> None:
    check_origin(request, runtime.settings)
    given = given or request.headers.get(CSRF_HEADER)
    if not tokens_match(expected, given):
        raise CsrfError("The form is missing its security token or it has expired.")


async def session_form(request: Request, visitor: Visitor, runtime: Runtime) -> FormData:
    """A signed-in visitor's url-encoded form, after its CSRF token and origin are checked."""
    form = await read_form(request)
    token = form.get(CSRF_FIELD)
    await check_csrf(
        request, runtime, visitor.csrf_token, token if isinstance(token, str) else None
    )
    return form
