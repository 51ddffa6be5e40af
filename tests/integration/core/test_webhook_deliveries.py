"""Webhook deliveries in the database (SQLite and PostgreSQL): made with a job's final status,
claimed by exactly one worker at a time, deleted with the job; secrets made once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from pyexec.core import repository
from pyexec.core.clock import utcnow
from pyexec.core.db import Database
from pyexec.core.migrate import upgrade
from pyexec.core.models import Job, JobStatus, WebhookStatus
from pyexec.core.settings import load_settings

HOLD = timedelta(seconds=40)


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None) -> AsyncIterator[Database]:
    settings = load_settings(data_dir=tmp_path, database_url=database_url)
    await asyncio.to_thread(upgrade, settings.db_url)
    database = Database(settings.db_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _ended_job(db: Database, url: str | None = "https://example.com/hook") -> Job:
    async with db.session() as session:
        account = await repository.create_account(session, f"{url}-{id(db)}@example.com", "pro")
        job = await repository.add_job(
            session, Job(account_id=account.id, code="1", webhook_url=url)
        )
        await session.commit()
    async with db.session() as session:
        assert await repository.finish_job(session, job.id, JobStatus.completed, result="ok")
        # A second transition changes nothing, and makes no second delivery.
        assert not await repository.finish_job(session, job.id, JobStatus.failed)
        await session.commit()
    return job


async def test_a_final_status_makes_one_due_delivery(db: Database) -> None:
    job = await _ended_job(db)
    async with db.session() as session:
        deliveries = await repository.webhook_deliveries(session, [job.id])
    delivery = deliveries[job.id]
    assert (delivery.url, delivery.status, delivery.attempts) == (
        "https://example.com/hook",
        "pending",
        0,
    )
    assert delivery.next_attempt_at is not None


async def test_no_url_no_delivery(db: Database) -> None:
    job = await _ended_job(db, url=None)
    async with db.session() as session:
        assert await repository.webhook_deliveries(session, [job.id]) == {}


async def test_exactly_one_of_many_concurrent_claims_wins(db: Database) -> None:
    job = await _ended_job(db)

    async def claim() -> str | None:
        async with db.session() as session:
            got = await repository.claim_due_webhook(session, utcnow(), HOLD)
            await session.commit()
            return got.claim if got is not None else None

    claims = [c for c in await asyncio.gather(*(claim() for _ in range(8))) if c]
    assert len(claims) == 1
    # Not due again while claimed...
    async with db.session() as session:
        assert await repository.claim_due_webhook(session, utcnow(), HOLD) is None
        # ...but once the claim lapses (a worker died mid-attempt), it is.
        again = await repository.claim_due_webhook(session, utcnow() + HOLD * 2, HOLD)
        await session.commit()
    assert again is not None and again.job_id == job.id and again.claim != claims[0]
    # The lapsed claim can no longer record an outcome; the live one can.
    async with db.session() as session:
        assert not await repository.record_webhook_attempt(
            session,
            job.id,
            claims[0],
            status=WebhookStatus.delivered,
            error=None,
            next_attempt_at=None,
        )
        assert again.claim is not None
        assert await repository.record_webhook_attempt(
            session,
            job.id,
            again.claim,
            status=WebhookStatus.failing,
            error="HTTP 500",
            next_attempt_at=utcnow() + HOLD,
        )
        await session.commit()
        stored = (await repository.webhook_deliveries(session, [job.id]))[job.id]
    assert (stored.status, stored.attempts, stored.last_error) == ("failing", 1, "HTTP 500")


async def test_deleting_the_job_drops_its_delivery(db: Database) -> None:
    job = await _ended_job(db)
    async with db.session() as session:
        assert await repository.delete_job(session, job.id)
        await session.commit()
        assert await repository.webhook_deliveries(session, [job.id]) == {}


async def test_the_secret_is_made_once_and_rotation_replaces_it(db: Database) -> None:
    job = await _ended_job(db)

    async def secret() -> str:
        async with db.session() as session:
            found = await repository.webhook_secret(session, job.account_id)
            await session.commit()
            return found.secret

    first = await asyncio.gather(*(secret() for _ in range(4)))
    assert len(set(first)) == 1 and first[0].startswith("whsec_")
    async with db.session() as session:
        rotated = (await repository.rotate_webhook_secret(session, job.account_id)).secret
        await session.commit()
    assert rotated != first[0] and await secret() == rotated


async def test_a_released_claim_is_due_again_at_once(db: Database) -> None:
    job = await _ended_job(db)
    async with db.session() as session:
        claimed = await repository.claim_due_webhook(session, utcnow(), HOLD)
        await session.commit()
        assert claimed is not None and claimed.claim is not None
        assert await repository.claim_due_webhook(session, utcnow(), HOLD) is None
        await repository.release_webhook_claim(session, job.id, claimed.claim)
        await session.commit()
        again = await repository.claim_due_webhook(session, utcnow(), HOLD)
        await session.commit()
    assert again is not None and again.attempts == 0
