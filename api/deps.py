"""Dependency aliases for routes: the runtime, a session, the authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.api.auth import Caller, authenticate
from pyexec.api.holds import OpenHolds
from pyexec.core.runtime import Runtime


# Coroutines, though they never await: FastAPI runs a plain function dependency in its thread
# pool, a hop to a thread and back on every request for an attribute read.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
CurrentCaller = Annotated[Caller, Depends(authenticate)]


async def get_holds(request: Request) -> OpenHolds:
    holds: OpenHolds = request.app.state.holds
    return holds


HoldsDep = Annotated[OpenHolds, Depends(get_holds)]
