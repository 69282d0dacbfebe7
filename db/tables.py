"""The tables of the unified store (SQLAlchemy Core metadata).

``records`` holds one observation of one asset's USD price at one time from one source,
keyed by ``(source, record_id, timestamp)``. The secondary indexes serve the keyset
queries in ``db.queries``: newest-first over ``(timestamp, source, record_id)`` globally,
per source, per canonical asset and per symbol. ``records.asset_id`` names an ``assets``
row without a foreign key: the loader writes a chunk's new assets before its records in
the same transaction, so a per-row check would only cost ingest time (BENCHMARKS.md).
``latest_records`` holds each ``(source, record_id)``'s newest record (timestamp and value),
kept exact by every writer of ``records`` in the same transaction (``db.latest``), so the
latest prices are read from a few thousand rows whatever the size of ``records``.
``latest_version`` is one counter (with a random token) that every transaction changing
``latest_records`` moves (``db.latest.bump``): a reader that saw the same pair before has
nothing new to read.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from kasparro.db.outcomes import COUNTERS
from kasparro.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# A surrogate integer key that is BIGINT on PostgreSQL and the rowid alias on SQLite.
RowId = BigInteger().with_variant(Integer(), "sqlite")

assets = Table(
    "assets",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("symbol", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "symbol"),
)

asset_aliases = Table(
    "asset_aliases",
    metadata,
    Column("source", String(32), nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("asset_id", String(200), ForeignKey("assets.id"), nullable=False),
    Column("method", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("source", "record_id"),
    Index(None, "asset_id"),
)

etl_runs = Table(
    "etl_runs",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("error", Text),
    Index(None, "started_at"),
    Index(None, "status", "started_at"),
)

etl_run_sources = Table(
    "etl_run_sources",
    metadata,
    Column("run_id", RowId, ForeignKey("etl_runs.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    *(Column(name, BigInteger, nullable=False, default=0) for name in COUNTERS),
    Column("error", Text),
    Column("note", Text),
    Column("checkpoint_before", UTCDateTime()),
    Column("checkpoint_after", UTCDateTime()),
    PrimaryKeyConstraint("run_id", "source"),
    Index(None, "source", "finished_at"),
)

records = Table(
    "records",
    metadata,
    Column("source", String(32), nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("asset_id", String(200), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("value", Float(53), nullable=False),
    Column("market_cap", Float(53)),
    Column("volume_24h", Float(53)),
    Column("run_id", BigInteger),
    Column("ingested_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("source", "record_id", "timestamp"),
    Index("ix_records_time", "timestamp", "source", "record_id"),
    Index("ix_records_source_time", "source", "timestamp", "record_id"),
    Index("ix_records_asset_time", "asset_id", "timestamp", "source", "record_id"),
    Index("ix_records_symbol_time", "symbol", "timestamp", "source", "record_id"),
)

latest_records = Table(
    "latest_records",
    metadata,
    Column("source", String(32), nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("value", Float(53), nullable=False),
    PrimaryKeyConstraint("source", "record_id"),
    # Every load batch updates most rows: with pages half empty the updates stay HOT (no
    # new index entry, old versions pruned in place), so the table does not bloat.
    postgresql_with={"fillfactor": 50},
)

latest_version = Table(
    "latest_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("token", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("high_water", UTCDateTime()),
    Column("fingerprint", String(128)),
    Column("run_id", BigInteger),
    Column("updated_at", UTCDateTime(), nullable=False),
)

rejects = Table(
    "rejects",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("run_id", RowId, ForeignKey("etl_runs.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(32), nullable=False),
    Column("locator", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "run_id"),
    Index(None, "source", "created_at"),
)

raw_payloads = Table(
    "raw_payloads",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("run_id", RowId, ForeignKey("etl_runs.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("fetched_at", UTCDateTime(), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("encoding", String(16), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Index(None, "source", "fetched_at"),
)
