"""Accounts and their API keys, as the CLI and the API create them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core import repository
from pyexec.core.keys import display_prefix, generate_key, hash_key
from pyexec.core.models import ALL_SCOPES, Account, ApiKey, Plan


class UnknownScopeError(ValueError):
    pass


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    scopes = list(dict.fromkeys(scopes))
    if not scopes:
        raise UnknownScopeError(f"a key needs at least one scope; known: {', '.join(ALL_SCOPES)}")
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise UnknownScopeError(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(ALL_SCOPES)}"
        )
    return scopes


async def ensure_account(session: AsyncSession, email: str, plan: Plan | str) -> Account:
    account = await repository.get_account_by_email(session, email)
    if account is None:
        account = await repository.create_account(session, email, Plan(plan).value)
    return account


class AccountRef(Protocol):
    """An account as far as issuing it a key goes (an `Account`, or the API's caller)."""

    @property
    def id(self) -> str: ...


async def issue_api_key(
    session: AsyncSession,
    account: AccountRef,
    *,
    name: str = "default",
    scopes: Iterable[str] = ALL_SCOPES,
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned this once and never stored."""
    plaintext = generate_key()
    key = ApiKey(
        account_id=account.id,
        name=name,
        prefix=display_prefix(plaintext),
        key_hash=hash_key(plaintext),
        scopes=validate_scopes(scopes),
    )
    await repository.add_api_key(session, key)
    return key, plaintext
