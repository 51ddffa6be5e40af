"""Database tables. All SQL that reads or writes them lives in `core.repository`."""

from __future__ import annotations

import enum
import inspect
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from pyexec.core.clock import utcnow

T = TypeVar("T")


def _factory(make: Callable[[], T]) -> Callable[[], T]:
    """`make` as a default factory whose signature is known up front: pydantic inspects a
    factory's signature each time SQLModel builds a row, and for builtins such as `list` that
    means parsing their text signature (about 1 ms per `Job()`)."""

    def factory() -> T:
        return make()

    factory.__signature__ = inspect.Signature()  # type: ignore[attr-defined]
    return factory


def new_id() -> str:
    return str(uuid.uuid4())


def new_file_id() -> str:
    return f"file_{uuid.uuid4().hex}"


class Plan(enum.StrEnum):
    free = "free"
    pro = "pro"
    business = "business"


class JobStatus(enum.StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.completed, JobStatus.failed, JobStatus.cancelled})

ALL_SCOPES = ("jobs:read", "jobs:write", "files:read", "files:write", "keys:manage")


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: str = Field(default_factory=_factory(new_id), primary_key=True, max_length=36)
    email: str = Field(unique=True, index=True, max_length=320)
    plan: str = Field(default=Plan.free.value, max_length=16)
    created_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    # Bytes stored for the account: its files, and its jobs' artifacts and notebooks.
    storage_bytes: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    # argon2id (core.passwords); None: the account cannot sign in to the dashboard by password.
    password_hash: str | None = Field(default=None, max_length=255)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(default_factory=_factory(new_id), primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    name: str = Field(default="default", max_length=100)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(unique=True, index=True, max_length=64)
    scopes: list[str] = Field(
        default_factory=_factory(lambda: list(ALL_SCOPES)), sa_column=Column(JSON)
    )
    created_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    last_used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_account_created", "account_id", "created_at"),
        Index("ix_jobs_status_priority", "status", "priority", "created_at"),
    )

    id: str = Field(default_factory=_factory(new_id), primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", max_length=36)
    status: str = Field(default=JobStatus.pending.value, max_length=16)
    title: str = Field(default="", max_length=200)
    prompt: str | None = None
    code: str | None = None
    priority: int = 5
    timeout_seconds: int = 300
    parent_job_id: str | None = Field(default=None, max_length=36)
    file_ids: list[str] = Field(default_factory=_factory(list), sa_column=Column(JSON))
    created_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    started_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    result: str | None = None
    error_message: str | None = None
    outputs: list[dict[str, Any]] = Field(default_factory=_factory(list), sa_column=Column(JSON))
    artifacts: list[dict[str, Any]] = Field(default_factory=_factory(list), sa_column=Column(JSON))
    usage: dict[str, Any] = Field(default_factory=_factory(dict), sa_column=Column(JSON))
    # Numbers of `result` found in no output of the job's cells (worker.agent.grounding).
    ungrounded_numbers: list[str] = Field(default_factory=_factory(list), sa_column=Column(JSON))
    attempts: int = 0
    cancel_requested: bool = False
    # What the job's artifacts and notebook count in its account's storage_bytes.
    stored_bytes: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    # Where the job object is POSTed when the job ends (core.webhooks); checked at submission.
    webhook_url: str | None = Field(default=None, max_length=2048)


class File(SQLModel, table=True):
    """An uploaded file; its bytes live in storage under its id."""

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_account_created", "account_id", "created_at"),)

    id: str = Field(default_factory=_factory(new_file_id), primary_key=True, max_length=40)
    account_id: str = Field(foreign_key="accounts.id", max_length=36)
    filename: str = Field(max_length=255)
    bytes: int
    media_type: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class RequestCount(SQLModel, table=True):
    """Requests an account made on one UTC day: the embedded deployment's rate-limit counter."""

    __tablename__ = "request_counts"

    account_id: str = Field(foreign_key="accounts.id", primary_key=True, max_length=36)
    day: date = Field(primary_key=True)
    count: int = 0


class IdempotencyKey(SQLModel, table=True):
    """An `Idempotency-Key` of `POST /v1/jobs`: which job it created, for which body."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("account_id", "key", name="uq_idempotency_keys_account_key"),
    )

    id: str = Field(default_factory=_factory(new_id), primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", max_length=36)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    # No foreign key: deleting a job must not be blocked by a key that once created it.
    job_id: str = Field(max_length=36)
    created_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class WebSession(SQLModel, table=True):
    """A signed-in dashboard visitor; the cookie holds a token, only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    id: str = Field(default_factory=_factory(new_id), primary_key=True, max_length=36)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    created_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    last_seen_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class SignInLink(SQLModel, table=True):
    """A one-time dashboard sign-in link (what `pyexec serve` prints); deleted when used."""

    __tablename__ = "sign_in_links"

    token_hash: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    created_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins counted under one key (an email, an IP address) in a fixed window."""

    __tablename__ = "sign_in_throttles"

    key: str = Field(primary_key=True, max_length=400)
    window_started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    attempts: int = 0


class WebhookStatus(enum.StrEnum):
    pending = "pending"
    delivered = "delivered"
    failing = "failing"
    gave_up = "gave_up"


class WebhookDelivery(SQLModel, table=True):
    """The POST of a job's object to its `webhook_url`, made when the job ends; retried until
    delivered or the retry window closes. One per job; deleted with its job."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    job_id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", max_length=36)
    url: str = Field(max_length=2048)
    status: str = Field(default=WebhookStatus.pending.value, max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    # When the next attempt is due; None once delivered or given up. A worker that claims the
    # delivery pushes it past its attempt's timeout, so no other worker sends it meanwhile.
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # Which claim holds the attempt under way: its outcome is recorded only by that claim.
    claim: str | None = Field(default=None, max_length=36)
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class WebhookSecret(SQLModel, table=True):
    """An account's webhook signing secret, made on first use; rotating replaces it."""

    __tablename__ = "webhook_secrets"

    account_id: str = Field(foreign_key="accounts.id", primary_key=True, max_length=36)
    secret: str = Field(max_length=100)
    created_at: datetime = Field(
        default_factory=_factory(utcnow), sa_column=Column(DateTime(timezone=True), nullable=False)
    )
