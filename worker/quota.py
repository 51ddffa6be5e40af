"""A job's share of its account's storage quota: its artifacts and its notebook.

What a job keeps is counted in its account's `storage_bytes` (and its own `stored_bytes`,
given back when it is deleted) in the same statement that checks the plan's quota, so two
jobs of one account finishing at once cannot both pass it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyexec.core import repository
from pyexec.core.files import human_bytes
from pyexec.core.models import Job
from pyexec.core.plans import plan_limits
from pyexec.core.runtime import Runtime


class JobStorage:
    def __init__(self, runtime: Runtime, job: Job) -> None:
        self.runtime = runtime
        self.job = job

    async def quota(self) -> int:
        async with self.runtime.db.session() as session:
            account = await repository.get_account(session, self.job.account_id)
        plan = account.plan if account is not None else "free"
        return plan_limits(self.runtime.settings, plan).max_storage_bytes

    async def reserve(self, sizes: Sequence[int]) -> tuple[list[bool], str | None]:
        """Which of `sizes` (in order of preference) fit the quota, counted in at once; and
        why the others do not."""
        total = sum(sizes)
        if total == 0:
            return [True] * len(sizes), None
        quota = await self.quota()
        if await self._count(total, quota):
            return [True] * len(sizes), None
        async with self.runtime.db.session() as session:
            left = quota - await repository.storage_used(session, self.job.account_id)
        kept: list[bool] = []
        for size in sizes:
            fits = size <= left
            kept.append(fits)
            left -= size if fits else 0
        if not await self._count(sum(s for s, k in zip(sizes, kept, strict=True) if k), quota):
            kept = [False] * len(sizes)  # another job of the account took the room meanwhile
        return kept, (
            f"it would take the account over its plan's storage quota of {human_bytes(quota)}"
        )

    async def give_back(self, n: int) -> None:
        """Uncount bytes reserved for something that was not kept after all."""
        if n:
            await self._count(-n, None)

    async def forget_earlier_attempt(self) -> None:
        """An earlier run of the job stored artifacts that are cleared now: uncount them."""
        async with self.runtime.db.session() as session:
            await repository.release_job_storage(session, self.job.id)
            await session.commit()

    async def _count(self, n: int, quota: int | None) -> bool:
        async with self.runtime.db.session() as session:
            ok = await repository.reserve_storage(
                session, self.job.account_id, n, quota, job_id=self.job.id
            )
            await session.commit()
        return ok
