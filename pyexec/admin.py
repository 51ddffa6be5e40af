"""Operator actions behind the CLI: accounts, keys, the demo key of `pyexec serve`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core import repository, web_sessions
from pyexec.core.accounts import ensure_account, issue_api_key
from pyexec.core.clock import utcnow
from pyexec.core.db import Database
from pyexec.core.keys import hash_key
from pyexec.core.models import ALL_SCOPES, Account, ApiKey, Plan
from pyexec.core.passwords import check_new_password, hash_password_async
from pyexec.core.settings import Settings

DEMO_EMAIL = "demo@pyexec.local"
DEMO_KEY_FILE = "demo-api-key"


class AdminError(ValueError):
    """An operator action that cannot be done; the message says why."""


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    db = Database(settings.db_url)
    try:
        async with db.session() as session:
            yield session
    finally:
        await db.dispose()


async def _account(session: AsyncSession, email: str) -> Account:
    account = await repository.get_account_by_email(session, email)
    if account is None:
        raise AdminError(f"no account with email {email}; create it with 'pyexec accounts create'")
    return account


async def create_account(
    settings: Settings, email: str, plan: str, password: str | None = None
) -> Account:
    """A new account; with `password`, its owner can sign in to the dashboard."""
    password_hash = await _password_hash(password, email) if password is not None else None
    async with _session(settings) as session:
        if await repository.get_account_by_email(session, email) is not None:
            raise AdminError(
                f"an account with email {email} exists; change its plan with "
                "'pyexec accounts set-plan'"
            )
        account = await repository.create_account(session, email, Plan(plan).value)
        if password_hash is not None:
            await web_sessions.set_password_hash(session, account.id, password_hash)
        await session.commit()
    return account


async def set_password(settings: Settings, email: str, password: str) -> tuple[Account, int]:
    """Set the account's dashboard password; its sessions end (they were signed in with the
    old one). Returns the account and how many sessions ended."""
    password_hash = await _password_hash(password, email)
    async with _session(settings) as session:
        account = await _account(session, email)
        await web_sessions.set_password_hash(session, account.id, password_hash)
        ended = await web_sessions.delete_account_sessions(session, account.id)
        await session.commit()
    return account, ended


async def _password_hash(password: str, email: str) -> str:
    try:
        check_new_password(password, email)
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    return await hash_password_async(password)


async def sign_in_link(settings: Settings, email: str, base_url: str) -> str:
    """A one-time link that signs the account in to the dashboard (valid 10 minutes), like
    Jupyter's token URL: `make run` prints one for the demo account."""
    token = web_sessions.new_token()
    async with _session(settings) as session:
        account = await _account(session, email)
        await web_sessions.add_sign_in_link(session, account.id, token, utcnow())
        await session.commit()
    return f"{settings.public_url or base_url}/signin/link?token={token}"


async def set_plan(settings: Settings, email: str, plan: str) -> Account:
    async with _session(settings) as session:
        account = await _account(session, email)
        await repository.set_account_plan(session, account.id, Plan(plan).value)
        await session.commit()
        account.plan = Plan(plan).value
    return account


async def create_key(
    settings: Settings,
    email: str,
    plan: str | None,
    name: str,
    scopes: Iterable[str] = ALL_SCOPES,
) -> tuple[ApiKey, str]:
    """A new key for the account; the account is created (on `plan`, default free) if missing."""
    _, key, plaintext = await create_key_for(settings, email, plan, name, scopes)
    return key, plaintext


async def create_key_for(
    settings: Settings,
    email: str,
    plan: str | None,
    name: str,
    scopes: Iterable[str] = ALL_SCOPES,
) -> tuple[Account, ApiKey, str]:
    async with _session(settings) as session:
        account = await ensure_account(session, email, plan or Plan.free)
        key, plaintext = await issue_api_key(session, account, name=name, scopes=scopes)
        await session.commit()
    return account, key, plaintext


async def list_keys(settings: Settings, email: str) -> tuple[Account, list[ApiKey]]:
    async with _session(settings) as session:
        account = await _account(session, email)
        keys = await repository.list_api_keys(session, account.id)
    return account, keys


async def revoke_key(settings: Settings, key_id: str) -> None:
    async with _session(settings) as session:
        if not await repository.revoke_api_key(session, key_id, utcnow()):
            raise AdminError(f"no active key with id {key_id}")
        await session.commit()


async def demo_key(settings: Settings) -> tuple[str, bool]:
    """The demo account's key, and whether it was made now: created on first start (or when
    the stored one was revoked), read back from the data dir after."""
    path = settings.data_dir / DEMO_KEY_FILE
    db = Database(settings.db_url)
    try:
        if path.exists():
            existing = path.read_text().strip()
            async with db.engine.connect() as conn:
                if await repository.find_caller_key(conn, hash_key(existing)):
                    return existing, False
        async with db.session() as session:
            account = await ensure_account(session, DEMO_EMAIL, "pro")
            _, plaintext = await issue_api_key(session, account, name="demo")
            await session.commit()
        _write_secret(path, plaintext)
        return plaintext, True
    finally:
        await db.dispose()


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
