"""records: no foreign key to assets; symbol index keyed like the page order

The loader resolves and writes a chunk's assets before its records, in the same
transaction, so the per-row foreign-key check on ``records.asset_id`` only cost ingest time
(a trigger and an ``assets`` probe per row). ``ix_records_symbol_time`` becomes
``(symbol, timestamp, source, record_id)`` so a symbol-filtered page is read in key order
and its cursor condition is an exact index bound. See BENCHMARKS.md, "Ingest".

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_records_asset_id_assets"), type_="foreignkey")
        batch_op.drop_index("ix_records_symbol_time")
        batch_op.create_index(
            "ix_records_symbol_time", ["symbol", "timestamp", "source", "record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_symbol_time")
        batch_op.create_index("ix_records_symbol_time", ["symbol", "timestamp"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_records_asset_id_assets"), "assets", ["asset_id"], ["id"]
        )
