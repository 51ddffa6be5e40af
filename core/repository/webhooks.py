"""Webhook deliveries (one per job that has a `webhook_url`, made when it ends) and accounts'
signing secrets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pyexec.core.clock import utcnow
from pyexec.core.models import Job, WebhookDelivery, WebhookSecret, WebhookStatus
from pyexec.core.webhooks import new_secret

DUE_STATUSES = (WebhookStatus.pending.value, WebhookStatus.failing.value)
MAX_ERROR_CHARS = 500


async def schedule_webhook(
    session: AsyncSession, job_id: str, *, owner: tuple[str, str | None] | None = None
) -> None:
    """The delivery of a job that has just ended, due now; nothing if it has no webhook_url.
    Called by each transition to a final status, in its transaction, so that an ended job and
    its delivery are stored together or not at all. `owner`: the job's (account id,
    webhook_url) when the caller has them already (one read less)."""
    row = owner
    if row is None:
        row = (
            await session.exec(
                select(Job.account_id, Job.webhook_url).where(col(Job.id) == job_id)
            )
        ).first()
    if row is None or row[1] is None:
        return
    if await session.get(WebhookDelivery, job_id) is not None:
        return
    now = utcnow()
    session.add(
        WebhookDelivery(
            job_id=job_id, account_id=row[0], url=row[1], created_at=now, next_attempt_at=now
        )
    )
    await session.flush()


async def webhook_deliveries(
    session: AsyncSession, job_ids: Sequence[str]
) -> dict[str, WebhookDelivery]:
    if not job_ids:
        return {}
    result = await session.exec(
        select(WebhookDelivery).where(col(WebhookDelivery.job_id).in_(list(job_ids)))
    )
    return {d.job_id: d for d in result.all()}


async def claim_due_webhook(
    session: AsyncSession, now: datetime, hold: timedelta
) -> WebhookDelivery | None:
    """Take the delivery due the longest, atomically: its next attempt moves `hold` ahead (past
    the attempt's timeout) under a new claim, so no other worker takes it meanwhile, and a worker
    that dies mid-attempt leaves it due again afterwards. The caller commits at once."""
    for _ in range(5):
        candidate = (
            await session.exec(
                select(WebhookDelivery.job_id)
                .where(
                    col(WebhookDelivery.status).in_(DUE_STATUSES),
                    col(WebhookDelivery.next_attempt_at) <= now,
                )
                .order_by(col(WebhookDelivery.next_attempt_at))
                .limit(1)
            )
        ).first()
        if candidate is None:
            return None
        claim = str(uuid.uuid4())
        # Compare-and-set: of two workers that saw it due, the second finds it no longer is.
        result = await session.exec(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.job_id) == candidate,
                col(WebhookDelivery.status).in_(DUE_STATUSES),
                col(WebhookDelivery.next_attempt_at) <= now,
            )
            .values(next_attempt_at=now + hold, claim=claim)
        )
        if result.rowcount:
            return await session.get(WebhookDelivery, candidate, populate_existing=True)
    return None


async def record_webhook_attempt(
    session: AsyncSession,
    job_id: str,
    claim: str,
    *,
    status: WebhookStatus,
    error: str | None,
    next_attempt_at: datetime | None,
) -> bool:
    """The outcome of the attempt made under `claim`; False if the claim was lost (the
    delivery was taken over or deleted meanwhile)."""
    values: dict[str, object] = {
        "status": status.value,
        "attempts": WebhookDelivery.attempts + 1,
        "last_error": error[:MAX_ERROR_CHARS] if error else None,
        "next_attempt_at": next_attempt_at,
        "claim": None,
    }
    if status is WebhookStatus.delivered:
        values["delivered_at"] = utcnow()
    result = await session.exec(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.job_id) == job_id, col(WebhookDelivery.claim) == claim)
        .values(**values)
    )
    return bool(result.rowcount)


async def release_webhook_claim(session: AsyncSession, job_id: str, claim: str) -> None:
    """An attempt that was stopped (a shutdown) before its outcome: due again at once."""
    await session.exec(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.job_id) == job_id, col(WebhookDelivery.claim) == claim)
        .values(next_attempt_at=utcnow(), claim=None)
    )


async def drop_webhook(session: AsyncSession, job_id: str) -> None:
    await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.job_id) == job_id))


async def webhook_secret(session: AsyncSession, account_id: str) -> WebhookSecret:
    """The account's signing secret, made on first use (once, under concurrent first uses)."""
    found = await session.get(WebhookSecret, account_id, populate_existing=True)
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            made = WebhookSecret(account_id=account_id, secret=new_secret())
            session.add(made)
    except IntegrityError:
        found = await session.get(WebhookSecret, account_id, populate_existing=True)
        if found is None:
            raise
        return found
    return made


async def rotate_webhook_secret(session: AsyncSession, account_id: str) -> WebhookSecret:
    """A new secret replaces the account's: deliveries from now on are signed with it."""
    current = await webhook_secret(session, account_id)
    current.secret = new_secret()
    current.created_at = utcnow()
    session.add(current)
    await session.flush()
    return current
