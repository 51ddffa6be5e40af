"""Apply and check alembic migrations, on SQLite and PostgreSQL.

`upgrade` is blocking (alembic runs its own event loop: call it before the service's loop
starts, as `pyexec migrate` and `pyexec serve` do). `check_schema` is async: the API and the
worker call it at start-up and refuse to run on a schema other than this code's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class SchemaOutOfDate(RuntimeError):
    """The database is not at this code's schema; `pyexec migrate` brings it there."""


def alembic_config(db_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))
    return cfg


def upgrade(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        _ensure_sqlite_dir(db_url)
    command.upgrade(alembic_config(db_url), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


async def check_schema(engine: AsyncEngine) -> None:
    """Raise `SchemaOutOfDate`, with what to do, unless the database is at the head revision."""
    current, head = await schema_revision(engine), head_revision()
    if current != head:
        found = f"at revision {current}" if current else "empty (no PyExec tables)"
        raise SchemaOutOfDate(
            f"the database schema is {found}, but this PyExec needs revision {head}: "
            "run `pyexec migrate` (with the same DATABASE_URL) first"
        )


def current_revision(db_url: str) -> str | None:
    """Blocking form of `schema_revision`, for the command line and tests."""

    async def read() -> str | None:
        engine = create_async_engine(db_url)
        try:
            return await schema_revision(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _ensure_sqlite_dir(db_url: str) -> None:
    path = db_url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
