"""storage usage: the bytes each account stores, and what each job counts in them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 20:00:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("storage_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stored_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
    # What is stored already: files by their size, jobs by their artifacts' (the notebooks of
    # jobs that ended before this version are not counted).
    conn = op.get_bind()
    jobs = conn.execute(sa.text("SELECT id, artifacts FROM jobs")).fetchall()
    for job_id, artifacts in jobs:
        items = json.loads(artifacts) if isinstance(artifacts, str) else (artifacts or [])
        stored = sum(int(a.get("bytes") or 0) for a in items if isinstance(a, dict))
        if stored:
            conn.execute(
                sa.text("UPDATE jobs SET stored_bytes = :n WHERE id = :id"),
                {"n": stored, "id": job_id},
            )
    conn.execute(
        sa.text(
            "UPDATE accounts SET storage_bytes = "
            "COALESCE((SELECT SUM(f.bytes) FROM files f WHERE f.account_id = accounts.id), 0) "
            "+ COALESCE((SELECT SUM(j.stored_bytes) FROM jobs j WHERE j.account_id = accounts.id)"
            ", 0)"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("stored_bytes")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("storage_bytes")
