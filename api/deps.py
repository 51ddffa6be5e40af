"""Dependency aliases for routes: the runtime, a session, the authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import Caller, authenticate
from api.holds import OpenHolds
from core.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
CurrentCaller = Annotated[Caller, Depends(authenticate)]


def get_holds(request: Request) -> OpenHolds:
    return request.app.state.holds


HoldsDep = Annotated[OpenHolds, Depends(get_holds)]
