"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 20:22:20.838628
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
    )
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assets_symbol"), ["symbol"], unique=False)

    op.create_table(
        "checkpoints",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("high_water", UTCDateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.String(length=128), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_checkpoints")),
    )
    op.create_table(
        "etl_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etl_runs")),
    )
    with op.batch_alter_table("etl_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_etl_runs_started_at"), ["started_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_etl_runs_status_started_at"), ["status", "started_at"], unique=False
        )

    op.create_table(
        "asset_aliases",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("asset_id", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_aliases_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("source", "record_id", name=op.f("pk_asset_aliases")),
    )
    with op.batch_alter_table("asset_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_aliases_asset_id"), ["asset_id"], unique=False)

    op.create_table(
        "etl_run_sources",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("inserted", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("unchanged", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("checkpoint_before", UTCDateTime(timezone=True), nullable=True),
        sa.Column("checkpoint_after", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["etl_runs.id"],
            name=op.f("fk_etl_run_sources_run_id_etl_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "source", name=op.f("pk_etl_run_sources")),
    )
    with op.batch_alter_table("etl_run_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_etl_run_sources_source_finished_at"),
            ["source", "finished_at"],
            unique=False,
        )

    op.create_table(
        "raw_payloads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["etl_runs.id"],
            name=op.f("fk_raw_payloads_run_id_etl_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_payloads")),
    )
    with op.batch_alter_table("raw_payloads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_raw_payloads_source_fetched_at"), ["source", "fetched_at"], unique=False
        )

    op.create_table(
        "records",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("timestamp", UTCDateTime(timezone=True), nullable=False),
        sa.Column("asset_id", sa.String(length=200), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("market_cap", sa.Float(precision=53), nullable=True),
        sa.Column("volume_24h", sa.Float(precision=53), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("ingested_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_records_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("source", "record_id", "timestamp", name=op.f("pk_records")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_records_asset_time", ["asset_id", "timestamp", "source", "record_id"], unique=False
        )
        batch_op.create_index(
            "ix_records_source_time", ["source", "timestamp", "record_id"], unique=False
        )
        batch_op.create_index("ix_records_symbol_time", ["symbol", "timestamp"], unique=False)
        batch_op.create_index("ix_records_time", ["timestamp", "source", "record_id"], unique=False)

    op.create_table(
        "rejects",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("locator", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["etl_runs.id"], name=op.f("fk_rejects_run_id_etl_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejects")),
    )
    with op.batch_alter_table("rejects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rejects_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_rejects_source_created_at"), ["source", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rejects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rejects_source_created_at"))
        batch_op.drop_index(batch_op.f("ix_rejects_run_id"))

    op.drop_table("rejects")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_time")
        batch_op.drop_index("ix_records_symbol_time")
        batch_op.drop_index("ix_records_source_time")
        batch_op.drop_index("ix_records_asset_time")

    op.drop_table("records")
    with op.batch_alter_table("raw_payloads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raw_payloads_source_fetched_at"))

    op.drop_table("raw_payloads")
    with op.batch_alter_table("etl_run_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_etl_run_sources_source_finished_at"))

    op.drop_table("etl_run_sources")
    with op.batch_alter_table("asset_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_aliases_asset_id"))

    op.drop_table("asset_aliases")
    with op.batch_alter_table("etl_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_etl_runs_status_started_at"))
        batch_op.drop_index(batch_op.f("ix_etl_runs_started_at"))

    op.drop_table("etl_runs")
    op.drop_table("checkpoints")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assets_symbol"))

    op.drop_table("assets")
