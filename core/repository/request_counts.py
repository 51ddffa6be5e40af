"""Daily request counters of the rate limits kept in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.models import RequestCount


async def count_request(
    session: AsyncSession, account_id: str, day: date, limit: int
) -> int | None:
    """Count one request of `account_id` on `day` unless `limit` were already counted.

    One atomic statement (an upsert whose update only happens under the limit), never a read
    then a write: with N left and M > N concurrent callers, exactly N get a count. Returns the
    new count, or None when the limit had been reached.
    """
    dialect = session.get_bind().dialect.name
    inserts: dict[str, Callable[[Any], sqlite.Insert | postgresql.Insert]] = {
        "sqlite": sqlite.insert, "postgresql": postgresql.insert
    }
    insert = inserts.get(dialect)
    if insert is None:
        raise NotImplementedError(f"no atomic request counter for {dialect}")
    table = RequestCount.__table__  # type: ignore[attr-defined]
    stmt = (
        insert(table)
        .values(account_id=account_id, day=day, count=1)
        .on_conflict_do_update(
            index_elements=[table.c.account_id, table.c.day],
            set_={"count": table.c.count + 1},
            where=table.c.count < limit,
        )
        .returning(table.c.count)
    )
    result = await session.exec(stmt)
    count: int | None = result.scalar_one_or_none()
    return count


async def delete_request_counts_before(session: AsyncSession, account_id: str, day: date) -> None:
    """Forget the account's counts of the days before `day`."""
    await session.exec(
        delete(RequestCount).where(
            col(RequestCount.account_id) == account_id, col(RequestCount.day) < day
        )
    )
