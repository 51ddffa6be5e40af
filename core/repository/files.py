"""Uploaded files: their rows, listed and deleted per account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.models import File
from pyexec.core.repository.storage import release_storage


async def add_file(session: AsyncSession, file: File) -> File:
    session.add(file)
    await session.flush()
    return file


async def get_file(session: AsyncSession, file_id: str, account_id: str) -> File | None:
    file = await session.get(File, file_id)
    if file is None or file.account_id != account_id:
        return None
    return file


async def get_files(
    session: AsyncSession, file_ids: Sequence[str], account_id: str
) -> dict[str, File]:
    """The account's files among `file_ids`, by id; ids of other accounts are simply absent."""
    if not file_ids:
        return {}
    result = await session.exec(
        select(File).where(col(File.id).in_(list(file_ids)), File.account_id == account_id)
    )
    return {f.id: f for f in result.all()}


async def list_files(
    session: AsyncSession,
    account_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[File]:
    query = select(File).where(File.account_id == account_id)
    if after is not None:
        created, file_id = after
        query = query.where(
            or_(
                col(File.created_at) < created,
                and_(col(File.created_at) == created, col(File.id) < file_id),
            )
        )
    query = query.order_by(col(File.created_at).desc(), col(File.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def delete_file(session: AsyncSession, file_id: str, account_id: str) -> bool:
    result = await session.exec(
        delete(File)
        .where(col(File.id) == file_id, col(File.account_id) == account_id)
        .returning(col(File.bytes))
    )
    row = result.first()
    if row is None:
        return False
    await release_storage(session, account_id, row[0])
    return True
