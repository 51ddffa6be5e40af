"""Bearer API-key authentication and scopes."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Forbidden, Unauthorized
from core import repository
from core.keys import hash_key, looks_like_key
from core.models import Account, ApiKey, utcnow

# last_used_at is a hint for people, not an audit log: refresh it at most this often so that
# authentication stays read-only on the hot path.
LAST_USED_GRANULARITY = timedelta(minutes=1)


# Declared for the OpenAPI schema (the "Authorize" button of /docs); parsing stays ours so that
# each malformed header gets its own message.
bearer_scheme = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer pyex_...`"
)


@dataclass(frozen=True)
class Caller:
    account: Account
    key: ApiKey

    def has_scope(self, scope: str) -> bool:
        return scope in (self.key.scopes or [])


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("Missing Authorization header; send 'Authorization: Bearer <key>'.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Malformed Authorization header; expected 'Bearer <key>'.")
    if not looks_like_key(token):
        raise Unauthorized("Invalid API key.")
    return token


async def authenticate(
    request: Request,
    _scheme: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
) -> Caller:
    cached = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    token = _bearer(request)
    runtime = request.app.state.runtime
    digest = hash_key(token)
    async with runtime.db.session() as session:
        found = await repository.find_active_key(session, digest)
        # The lookup is by an index on the hash, and the comparison below is constant-time,
        # so response timing reveals nothing about how close a guess was.
        if found is None or not hmac.compare_digest(found[0].key_hash, digest):
            raise Unauthorized("Invalid or revoked API key.")
        key, account = found
        now = utcnow()
        last = key.last_used_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=now.tzinfo)
        if last is None or now - last >= LAST_USED_GRANULARITY:
            await repository.touch_api_key(session, key.id, now)
            await session.commit()
    caller = Caller(account=account, key=key)
    request.state.caller = caller
    return caller


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, Caller]]:
    async def dependency(caller: Caller = Depends(authenticate)) -> Caller:
        if not caller.has_scope(scope):
            raise Forbidden(f"This API key lacks the '{scope}' scope.")
        return caller

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency
