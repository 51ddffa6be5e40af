"""Accounts: looking them up, creating them, their plan."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.models import Account


async def get_account(session: AsyncSession, account_id: str) -> Account | None:
    return await session.get(Account, account_id)


async def get_account_by_email(session: AsyncSession, email: str) -> Account | None:
    result = await session.exec(select(Account).where(Account.email == email.lower()))
    return result.first()


async def create_account(session: AsyncSession, email: str, plan: str) -> Account:
    account = Account(email=email.lower(), plan=plan)
    session.add(account)
    await session.flush()
    return account


async def set_account_plan(session: AsyncSession, account_id: str, plan: str) -> None:
    await session.exec(
        update(Account).where(col(Account.id) == account_id).values(plan=plan)
    )
