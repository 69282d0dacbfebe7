"""etl_run_sources.note: what a source's run has to say besides an error

E.g. that a file was unchanged and not read, or how many of the source's rejects were
counted but not stored (ETL_MAX_REJECTS_STORED).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("etl_run_sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("etl_run_sources", schema=None) as batch_op:
        batch_op.drop_column("note")
