"""Operator actions behind the CLI: accounts, keys, the demo key of `pyexec serve`."""

from __future__ import annotations

import os
from pathlib import Path

from core import repository
from core.accounts import ensure_account, issue_api_key
from core.db import Database
from core.keys import hash_key
from core.models import ApiKey
from core.settings import Settings

DEMO_EMAIL = "demo@pyexec.local"
DEMO_KEY_FILE = "demo-api-key"


async def create_key(settings: Settings, email: str, plan: str, name: str) -> tuple[ApiKey, str]:
    db = Database(settings.db_url)
    try:
        async with db.session() as session:
            account = await ensure_account(session, email, plan)
            key, plaintext = await issue_api_key(session, account, name=name)
            await session.commit()
        return key, plaintext
    finally:
        await db.dispose()


async def demo_key(settings: Settings) -> str:
    """The demo account's key: created on first start, read back from the data dir after."""
    path = settings.data_dir / DEMO_KEY_FILE
    db = Database(settings.db_url)
    try:
        if path.exists():
            existing = path.read_text().strip()
            async with db.session() as session:
                if await repository.find_active_key(session, hash_key(existing)):
                    return existing
        async with db.session() as session:
            account = await ensure_account(session, DEMO_EMAIL, "pro")
            _, plaintext = await issue_api_key(session, account, name="demo")
            await session.commit()
        _write_secret(path, plaintext)
        return plaintext
    finally:
        await db.dispose()


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
