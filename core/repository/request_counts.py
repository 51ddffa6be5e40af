"""Daily request counters of the rate limits kept in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.models import RequestCount


def _count_statement(insert: Callable[[Any], sqlite.Insert | postgresql.Insert]) -> Any:
    table = RequestCount.__table__  # type: ignore[attr-defined]
    return (
        insert(table)
        .values(account_id=bindparam("account_id"), day=bindparam("day"), count=1)
        .on_conflict_do_update(
            index_elements=[table.c.account_id, table.c.day],
            set_={"count": table.c.count + 1},
            where=table.c.count < bindparam("limit"),
        )
        .returning(table.c.count)
    )


# One statement per dialect, built once: it runs on every counted request.
_COUNT_STATEMENTS = {
    "sqlite": _count_statement(sqlite.insert),
    "postgresql": _count_statement(postgresql.insert),
}


async def count_request(
    conn: AsyncConnection, account_id: str, day: date, limit: int
) -> int | None:
    """Count one request of `account_id` on `day` unless `limit` were already counted.

    One atomic statement (an upsert whose update only happens under the limit), never a read
    then a write: with N left and M > N concurrent callers, exactly N get a count. Returns the
    new count, or None when the limit had been reached. On a connection (Core, no session):
    it runs in the transaction that authenticated the request.
    """
    stmt = _COUNT_STATEMENTS.get(conn.dialect.name)
    if stmt is None:
        raise NotImplementedError(f"no atomic request counter for {conn.dialect.name}")
    result = await conn.execute(stmt, {"account_id": account_id, "day": day, "limit": limit})
    count: int | None = result.scalar_one_or_none()
    return count


async def request_counts_between(
    session: AsyncSession, account_id: str, first: date, last: date
) -> dict[date, int]:
    """The account's counts of the days from `first` to `last`, both included."""
    result = await session.exec(
        select(col(RequestCount.day), col(RequestCount.count)).where(
            RequestCount.account_id == account_id,
            col(RequestCount.day) >= first,
            col(RequestCount.day) <= last,
        )
    )
    return {day: count for day, count in result.all()}


async def delete_request_counts_before(conn: AsyncConnection, account_id: str, day: date) -> None:
    """Forget the account's counts of the days before `day`."""
    await conn.execute(
        delete(RequestCount).where(
            col(RequestCount.account_id) == account_id, col(RequestCount.day) < day
        )
    )
