"""latest_version: one counter moved by every transaction that changes latest_records

The serving process keeps the latest prices it last read together with the counter it saw
first; while the counter stands still, nothing they were built from has changed
(``db.latest.bump``, ``db.latest_cache``). Each move also draws a new random token, so a
store restored from a backup never shows a process a pair it kept. Starts at (1, 0).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "latest_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_latest_version_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_latest_version")),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1, "token": 0}])


def downgrade() -> None:
    op.drop_table("latest_version")
