"""The repository's SQL on both databases: SQLite (embedded) and PostgreSQL (scaled out)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from pyexec.core import repository
from pyexec.core.clock import utcnow
from pyexec.core.db import Database
from pyexec.core.migrate import check_schema, current_revision, head_revision, upgrade
from pyexec.core.models import Job, JobStatus
from pyexec.core.settings import load_settings


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None):
    settings = load_settings(data_dir=tmp_path, database_url=database_url)
    await asyncio.to_thread(upgrade, settings.db_url)
    database = Database(settings.db_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _account(db: Database, email: str = "a@example.com") -> str:
    async with db.session() as session:
        account = await repository.create_account(session, email, "pro")
        await session.commit()
        return account.id


async def _job(db: Database, account_id: str, **values: object) -> Job:
    async with db.session() as session:
        job = await repository.add_job(session, Job(account_id=account_id, code="1", **values))
        await session.commit()
        return job


async def test_schema_is_at_head(db: Database) -> None:
    await check_schema(db.engine)
    assert await asyncio.to_thread(current_revision, db.url) == head_revision()


async def test_exactly_one_of_many_concurrent_claims_wins(db: Database) -> None:
    job = await _job(db, await _account(db))

    async def claim() -> bool:
        async with db.session() as session:
            won = await repository.claim_job(session, job.id)
            await session.commit()
            return won is not None

    results = await asyncio.gather(*(claim() for _ in range(8)))
    assert results.count(True) == 1
    async with db.session() as session:
        row = await repository.get_job(session, job.id)
    assert row is not None and row.status == "running" and row.attempts == 1
    assert row.started_at is not None


async def test_a_claim_returns_the_job_as_it_left_it(db: Database) -> None:
    job = await _job(db, await _account(db))
    async with db.session() as session:
        claimed = await repository.claim_job(session, job.id)
        await session.commit()
        assert await repository.claim_job(session, job.id) is None  # taken already
    # The worker runs from this row without reading it again.
    assert claimed is not None and claimed.id == job.id
    assert claimed.status == "running" and claimed.attempts == 1
    assert claimed.started_at is not None and claimed.code == job.code


async def test_final_status_is_never_overwritten(db: Database) -> None:
    job = await _job(db, await _account(db))
    async with db.session() as session:
        assert await repository.claim_job(session, job.id)
        assert await repository.finish_job(session, job.id, JobStatus.completed, result="42")
        assert not await repository.finish_job(session, job.id, JobStatus.failed)
        assert not await repository.cancel_pending(session, job.id)
        await session.commit()
        row = await repository.get_job(session, job.id)
    assert row is not None and row.status == "completed" and row.result == "42"


async def test_finishing_returns_the_ended_row_in_one_statement(db: Database) -> None:
    job = await _job(db, await _account(db))
    async with db.session() as session:
        await repository.claim_job(session, job.id)
        await session.commit()
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session() as session:
            ended = await repository.finish_job(
                session, job.id, JobStatus.completed, stored_bytes_added=120, result="42"
            )
            await session.commit()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    # The waiter and the metrics use this row: nothing is read back.
    assert len(statements) == 1, statements
    assert ended is not None and ended.status == "completed" and ended.result == "42"
    assert ended.stored_bytes == 120 and ended.completed_at is not None


async def test_orphan_recovery_is_guarded_by_the_attempt_count(db: Database) -> None:
    job = await _job(db, await _account(db))
    async with db.session() as session:
        await repository.claim_job(session, job.id)
        # Two recoverers saw attempt 1: one wins, and a run claimed after it is not touched.
        assert await repository.requeue_orphan(session, job.id, attempts=1)
        assert not await repository.requeue_orphan(session, job.id, attempts=1)
        assert await repository.claim_job(session, job.id)
        assert not await repository.requeue_orphan(session, job.id, attempts=1)
        assert not await repository.fail_orphan(session, job.id, 1, "x")
        assert await repository.fail_orphan(session, job.id, 2, "worker gone")
        await session.commit()
        row = await repository.get_job(session, job.id)
    assert row is not None and row.status == "failed" and row.error_message == "worker gone"
    assert row.attempts == 2 and row.completed_at is not None


async def test_requeue_on_shutdown_refunds_the_attempt(db: Database) -> None:
    job = await _job(db, await _account(db))
    async with db.session() as session:
        await repository.claim_job(session, job.id)
        await repository.requeue_job(session, job.id, refund_attempt=True)
        await session.commit()
        row = await repository.get_job(session, job.id)
    assert row is not None and row.status == "pending" and row.attempts == 0
    assert row.started_at is None


async def test_pending_and_running_come_by_priority_then_age(db: Database) -> None:
    account = await _account(db)
    t0 = utcnow() - timedelta(minutes=5)
    specs = [(1, 0), (10, 1), (5, 2), (10, 3), (5, 4)]
    ids = [
        (await _job(db, account, priority=p, created_at=t0 + timedelta(seconds=s))).id
        for p, s in specs
    ]
    async with db.session() as session:
        await repository.claim_job(session, ids[4])
        await session.commit()
        rows = await repository.jobs_with_status(session, [JobStatus.pending, JobStatus.running])
    assert [r.id for r in rows] == [ids[1], ids[3], ids[2], ids[4], ids[0]]


async def test_listing_pages_newest_first_per_account(db: Database) -> None:
    mine, theirs = await _account(db, "me@example.com"), await _account(db, "them@example.com")
    t0 = utcnow()
    ids = [(await _job(db, mine, created_at=t0 + timedelta(seconds=i))).id for i in range(5)]
    await _job(db, theirs)
    seen, after = [], None
    async with db.session() as session:
        while True:
            page = await repository.list_jobs(session, mine, limit=2, after=after)
            seen += [j.id for j in page]
            if len(page) < 2:
                break
            after = repository.decode_cursor(repository.encode_cursor(page[-1]))
        assert await repository.get_job(session, ids[0], account_id=theirs) is None
    assert seen == ids[::-1]
