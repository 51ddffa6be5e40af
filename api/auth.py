"""Bearer API-key authentication, daily quotas and scopes.

`AuthenticationMiddleware` authenticates every /v1 request and charges it to its account's
daily quota before routing, so that the order is the same for every endpoint and every kind of
request: 401 (not counted), then 429 (not counted), then whatever the route answers, which
carries the X-RateLimit-* headers even when it is an error. Routes read the caller it found
through `require_scope`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from pyexec.api.errors import ApiError, Forbidden, Unauthorized, error_response
from pyexec.api.ratelimit import charge, over_limit, send_with_quota
from pyexec.core import logs, repository
from pyexec.core.keys import hash_key, looks_like_key
from pyexec.core.plans import PlanLimits, plan_limits
from pyexec.core.ratelimit import Quota
from pyexec.core.runtime import Runtime

# last_used_at is a hint for people, not an audit log: refresh it at most this often so that
# authentication stays read-only on the hot path.
LAST_USED_GRANULARITY = timedelta(minutes=1)
API_PREFIX = "/v1"


# Declared for the OpenAPI schema (the "Authorize" button of /docs); parsing stays ours so that
# each malformed header gets its own message.
bearer_scheme = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer pyex_...`"
)


@dataclass(frozen=True, slots=True)
class CallerAccount:
    """The caller's account as authentication read it (no ORM object: built per request)."""

    id: str
    email: str
    plan: str


@dataclass(frozen=True, slots=True)
class CallerKey:
    id: str
    scopes: list[str]


@dataclass(frozen=True)
class Caller:
    account: CallerAccount
    key: CallerKey
    limits: PlanLimits

    def has_scope(self, scope: str) -> bool:
        return scope in self.key.scopes


def _bearer(header: str | None) -> str:
    if not header:
        raise Unauthorized("Missing Authorization header; send 'Authorization: Bearer <key>'.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Malformed Authorization header; expected 'Bearer <key>'.")
    if not looks_like_key(token):
        raise Unauthorized("Invalid API key.")
    return token


async def authenticate_header(
    runtime: Runtime, authorization: str | None
) -> tuple[Caller, Quota | None]:
    """The caller behind an Authorization header, its request counted against its daily quota
    (None: unlimited plan); `Unauthorized` for anything else.

    One connection and one transaction: the key lookup, the rare last-used write and (when the
    counts are kept in the database) the count. A revoked key fails at once: nothing is cached.
    """
    token = _bearer(authorization)
    digest = hash_key(token)
    async with runtime.db.engine.begin() as conn:
        found = await repository.find_caller_key(conn, digest)
        # The lookup is by an index on the hash, and the comparison below is constant-time, so
        # response timing reveals nothing about how close a guess was.
        if found is None or not hmac.compare_digest(found.key_hash, digest):
            raise Unauthorized("Invalid or revoked API key.")
        now = runtime.clock.now()
        last = found.last_used_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=now.tzinfo)
        if last is None or now - last >= LAST_USED_GRANULARITY:
            await repository.touch_api_key_if_stale(
                conn, found.key_id, now, now - LAST_USED_GRANULARITY
            )
        limits = plan_limits(runtime.settings, found.plan)
        quota = await charge(runtime, found.account_id, limits, conn)
    caller = Caller(
        account=CallerAccount(found.account_id, found.email, found.plan),
        key=CallerKey(found.key_id, found.scopes),
        limits=limits,
    )
    return caller, quota


class AuthenticationMiddleware:
    """Authenticate and charge every /v1 request (pure ASGI, inside the request-id middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        runtime: Runtime = scope["app"].state.runtime
        try:
            caller, quota = await authenticate_header(
                runtime, Headers(scope=scope).get("authorization")
            )
            if quota is not None and not quota.allowed:
                raise over_limit(quota)
        except ApiError as exc:
            response = error_response(
                exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        logs.annotate(account_id=caller.account.id)
        scope["state"]["quota"] = quota
        if quota is not None:
            send = send_with_quota(send, quota)
        needed = route_scope(scope)
        if needed is not None and not caller.has_scope(needed):
            # Here, not only in the route: FastAPI reads and parses a body before it solves
            # dependencies, and a key without the scope must not make it read 4 MB.
            denied = scope_error(needed)
            await error_response(denied.status, denied.code, denied.message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def authenticate(
    request: Request,
    _scheme: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
) -> Caller:
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:
        # Every /v1 route sits behind AuthenticationMiddleware; reaching here is a wiring bug.
        raise RuntimeError(f"no authenticated caller for {request.url.path}")
    return caller


def scope_error(scope: str) -> Forbidden:
    return Forbidden(f"This API key lacks the '{scope}' scope.")


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, Caller]]:
    async def dependency(caller: Caller = Depends(authenticate)) -> Caller:
        if not caller.has_scope(scope):
            raise scope_error(scope)
        return caller

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    dependency.required_scope = scope  # type: ignore[attr-defined]  # read by route_scope
    return dependency


@dataclass(frozen=True)
class ScopeRule:
    """A route's path, methods and required scope, matched before FastAPI routes it."""

    path: re.Pattern[str]
    methods: frozenset[str]
    scope: str


def scope_rules(routes: Iterable[APIRoute]) -> list[ScopeRule]:
    """The scope each of `routes` requires through `require_scope`, if any."""
    rules = []
    for route in routes:
        pending = list(route.dependant.dependencies)
        while pending:
            dependency = pending.pop()
            needed = getattr(dependency.call, "required_scope", None)
            if needed is not None:
                rules.append(ScopeRule(route.path_regex, frozenset(route.methods or ()), needed))
                break
            pending.extend(dependency.dependencies)
    return rules


def route_scope(scope: Scope) -> str | None:
    """The scope that the route this request goes to requires, if any."""
    path, method = scope.get("path", ""), scope.get("method", "")
    rules: list[ScopeRule] = getattr(scope["app"].state, "scope_rules", [])
    for rule in rules:
        if method in rule.methods and rule.path.match(path):
            return rule.scope
    return None
