"""Delivering webhooks: the job object POSTed, signed, to a job's `webhook_url` when it ends.

A delivery is a row (`core.models.WebhookDelivery`), made in the same transaction as the job's
final status, so it survives restarts. Every worker process (the embedded one inside
`pyexec serve`, each scaled `pyexec worker`) runs a `WebhookSender`: it claims a due delivery
atomically (no two workers send one at once), sends it, and records the outcome: `delivered`
on a 2xx answer, else `failing` with the next attempt after an exponential backoff with
jitter, until the retry window (24 h by default) has passed: then `gave_up`.

Each attempt checks the URL again and resolves its host itself, refuses it if any answer is
a loopback, private, link-local, multicast or reserved address (unless the operator allows
them), and connects to exactly the address it checked (TLS still verifies the host's name):
a name whose answer changes after submission (DNS rebinding) cannot reach the inside.
No proxy from the environment, no redirects, short timeouts, and at most a few KB of the
answer are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from pyexec.core import metrics, repository
from pyexec.core.clock import utcnow
from pyexec.core.job_object import JobOut, as_utc
from pyexec.core.models import WebhookDelivery, WebhookStatus
from pyexec.core.runtime import Runtime
from pyexec.core.settings import Settings
from pyexec.core.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookUrlError,
    backoff_seconds,
    check_url,
    resolve_public,
    signature_header,
)

log = logging.getLogger("pyexec.worker.webhooks")

USER_AGENT = "PyExec-Webhooks/1"
# Of a receiver's answer, only this much is read (and only for the error message).
MAX_ANSWER_BYTES = 4096
# A claimed delivery is not due again before its attempt's timeout and this margin have
# passed: long enough that no other worker sends it meanwhile, short enough that a worker
# that died mid-attempt delays it little.
CLAIM_MARGIN_SECONDS = 30.0
# How long a stopping worker tries to hand back a delivery it was sending.
RELEASE_SECONDS = 2.0
# Attempts one worker makes at once (one slow receiver does not hold up the others).
PARALLEL_ATTEMPTS = 8


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    error: str | None = None


def _metric_outcome(status: WebhookStatus, outcome: Outcome) -> metrics.WebhookOutcome:
    if status is WebhookStatus.delivered:
        return "delivered"
    if outcome.error and outcome.error.startswith("refused"):
        return "refused"
    return "failed" if status is WebhookStatus.gave_up else "retrying"


class WebhookSender:
    """Claims due deliveries and sends them, for as long as `run` runs."""

    def __init__(self, runtime: Runtime, *, rng: random.Random | None = None) -> None:
        self.runtime = runtime
        self.settings: Settings = runtime.settings
        self._rng = rng or random.Random()
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            # No HTTP(S)_PROXY from the environment: the connection goes where it was checked.
            trust_env=False,
            timeout=httpx.Timeout(
                self.settings.webhook_timeout, connect=self.settings.webhook_connect_timeout
            ),
            headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self) -> None:
        poll = self.settings.webhook_poll_seconds
        while True:
            try:
                if await self.deliver_due():
                    continue  # more may be due: look again at once
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook deliveries: unexpected error; trying again shortly")
            await asyncio.sleep(poll)

    async def deliver_due(self) -> int:
        """Claim up to PARALLEL_ATTEMPTS due deliveries and make their attempts; how many."""
        claimed: list[WebhookDelivery] = []
        hold = timedelta(seconds=self.settings.webhook_timeout + CLAIM_MARGIN_SECONDS)
        async with self.runtime.db.session() as session:
            for _ in range(PARALLEL_ATTEMPTS):
                delivery = await repository.claim_due_webhook(session, utcnow(), hold)
                await session.commit()
                if delivery is None:
                    break
                claimed.append(delivery)
        if claimed:
            await asyncio.gather(*(self.attempt(d) for d in claimed))
        return len(claimed)

    async def attempt(self, delivery: WebhookDelivery) -> None:
        """One attempt of a claimed delivery, and its outcome recorded."""
        assert delivery.claim is not None
        async with self.runtime.db.session() as session:
            job = await repository.get_job(session, delivery.job_id)
            if job is None:  # deleted since it ended: nothing to tell
                await repository.drop_webhook(session, delivery.job_id)
                await session.commit()
                return
            secret = (await repository.webhook_secret(session, delivery.account_id)).secret
            await session.commit()
        body = JobOut.of(job, delivery).model_dump_json().encode()
        try:
            outcome = await self.send(delivery, body, secret)
        except asyncio.CancelledError:
            # Stopped mid-attempt: hand the delivery back (it may have arrived; receivers
            # dedupe by job id) instead of leaving it claimed until the claim lapses.
            await self._release(delivery.job_id, delivery.claim)
            raise
        status, next_at = self._next(delivery, outcome)
        metrics.webhook_delivery(_metric_outcome(status, outcome))
        async with self.runtime.db.session() as session:
            recorded = await repository.record_webhook_attempt(
                session,
                delivery.job_id,
                delivery.claim,
                status=status,
                error=outcome.error,
                next_attempt_at=next_at,
            )
            await session.commit()
        attempts = delivery.attempts + 1
        if not recorded:
            log.warning("webhook of job %s: its claim was lost during the attempt", job.id)
        elif status is WebhookStatus.delivered:
            log.info("webhook of job %s delivered (attempt %d)", job.id, attempts)
        elif status is WebhookStatus.gave_up:
            log.warning(
                "webhook of job %s: giving up after %d attempts: %s",
                job.id,
                attempts,
                outcome.error,
            )
        else:
            log.info(
                "webhook of job %s: attempt %d failed (%s); next at %s",
                job.id,
                attempts,
                outcome.error,
                next_at,
            )

    async def _release(self, job_id: str, claim: str) -> None:
        try:
            async with asyncio.timeout(RELEASE_SECONDS), self.runtime.db.session() as session:
                await repository.release_webhook_claim(session, job_id, claim)
                await session.commit()
        except Exception as exc:  # the claim lapses by itself
            log.warning("webhook of job %s: could not hand it back (%s)", job_id, exc)

    def _next(
        self, delivery: WebhookDelivery, outcome: Outcome
    ) -> tuple[WebhookStatus, datetime | None]:
        if outcome.delivered:
            return WebhookStatus.delivered, None
        now = utcnow()
        closes = as_utc(delivery.created_at) + timedelta(
            seconds=self.settings.webhook_retry_window_seconds
        )
        if now >= closes:
            return WebhookStatus.gave_up, None
        wait = backoff_seconds(
            delivery.attempts + 1,
            base=self.settings.webhook_retry_base_seconds,
            cap=self.settings.webhook_retry_max_seconds,
            rng=self._rng,
        )
        # The last attempt falls at the window's end, not after it.
        return WebhookStatus.failing, min(now + timedelta(seconds=wait), closes)

    async def send(self, delivery: WebhookDelivery, body: bytes, secret: str) -> Outcome:
        """POST `body` to the delivery's URL, signed; never raises for the receiver's faults."""
        settings = self.settings
        try:
            target = check_url(
                delivery.url,
                allow_http=settings.webhook_allow_http,
                allow_private=settings.webhook_allow_private,
            )
            async with asyncio.timeout(settings.webhook_timeout):
                addresses = await resolve_public(
                    target, allow_private=settings.webhook_allow_private
                )
                address = addresses[0]
                url = httpx.URL(target.url)
                host_header = url.netloc.decode("ascii")
                headers = {
                    "Host": host_header,
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: signature_header(secret, int(time.time()), body),
                    DELIVERY_HEADER: delivery.job_id,
                }
                # Connect to the checked address; TLS verifies (and SNI names) the URL's host.
                request = self._client.build_request(
                    "POST",
                    url.copy_with(host=str(address)),
                    content=body,
                    headers=headers,
                    extensions={"sni_hostname": target.host},
                )
                response = await self._client.send(request, stream=True)
                try:
                    answer = await _read_some(response)
                finally:
                    await response.aclose()
        except WebhookUrlError as exc:
            return Outcome(False, f"refused: the URL {exc}")
        except TimeoutError:
            return Outcome(False, f"timed out after {settings.webhook_timeout:g} s")
        except httpx.TimeoutException as exc:
            return Outcome(False, f"timed out ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return Outcome(False, f"could not connect: {exc or type(exc).__name__}")
        except OSError as exc:
            return Outcome(False, f"could not connect: {exc}")
        if 200 <= response.status_code < 300:
            return Outcome(True)
        error = f"HTTP {response.status_code}"
        if 300 <= response.status_code < 400:
            error += " (redirects are not followed)"
        snippet = answer.decode("utf-8", "replace").strip()
        if snippet:
            error += f": {snippet[:200]}"
        return Outcome(False, error)


async def _read_some(response: httpx.Response) -> bytes:
    """At most MAX_ANSWER_BYTES of the answer; the rest is never read."""
    data = b""
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= MAX_ANSWER_BYTES:
            break
    return data[:MAX_ANSWER_BYTES]


@contextlib.asynccontextmanager
async def sending_webhooks(runtime: Runtime) -> AsyncIterator[WebhookSender]:
    """A `WebhookSender` running beside the worker's other loops, for as long as the block runs.
    A stop mid-attempt leaves that delivery claimed: due again once its claim lapses."""
    sender = WebhookSender(runtime)
    task = asyncio.create_task(sender.run(), name="pyexec-webhooks")
    try:
        yield sender
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sender.aclose()
