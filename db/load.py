"""Write helpers for the ETL's loads: records (bulk upsert), rejects, checkpoints, assets
(what the ETL reads before it loads is in ``db.etl_reads``).

``upsert_records`` stages a batch in a temporary table and merges it with one
``INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE <values differ>``, so an exact duplicate
is ``unchanged``, a changed value an ``updated`` correction and a new key ``inserted``.
PostgreSQL stages with ``COPY`` and counts with ``RETURNING (xmax = 0)``; SQLite stages with
``executemany`` and counts with one join before the merge. Rows arrive deduplicated by key
with timestamps as naive-UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (what ``UTCDateTime``
stores on SQLite), so the hot path does no per-row type processing.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kasparro.db.tables import (
    asset_aliases,
    assets,
    checkpoints,
    raw_payloads,
    rejects,
)
from kasparro.db.types import storable_text


class StagedRow(NamedTuple):
    """A row ready for ``records``, its fields in the staging table's column order; the
    timestamp is naive-UTC text."""

    record_id: str
    timestamp: str
    asset_id: str
    symbol: str
    name: str
    value: float
    market_cap: float | None
    volume_24h: float | None


SQLITE_CACHE_KIB = 65_536
"""Page cache of a loading SQLite connection: index maintenance stays in memory."""

SQLITE_WAL_CHECKPOINT_PAGES = 20_000
"""WAL auto-checkpoint of a loading SQLite connection (default 1000 pages): a large commit
no longer copies the same hot index pages back into the database file again and again."""

REASON_LIMIT = 1000
"""Characters of a reject's reason stored (reasons quote values cut much shorter)."""

_ROWS_PER_STATEMENT = 1000
"""Rows per multi-row INSERT (well inside SQLite's limit of bound parameters)."""

_KEY = operator.itemgetter(*map(StagedRow._fields.index, ("record_id", "timestamp")))
"""A staged row's key within one source (an ``itemgetter``: sorting a chunk by an
``attrgetter`` cost a fifth of the ETL's own time per row)."""
_TIMESTAMP = operator.itemgetter(StagedRow._fields.index("timestamp"))
_VALUES = StagedRow._fields[2:]
_COLUMNS = ", ".join(StagedRow._fields)


@dataclass(frozen=True, slots=True)
class MergeCounts:
    inserted: int
    updated: int
    unchanged: int


def _dbapi(conn: Connection) -> Any:
    return conn.connection.dbapi_connection


def upsert_records(
    conn: Connection, source: str, rows: Sequence[StagedRow], run_id: int, now: datetime
) -> MergeCounts:
    """Merge ``rows`` (unique by record_id and timestamp) into ``records``."""
    if not rows:
        return MergeCounts(0, 0, 0)
    if conn.dialect.name == "postgresql":
        return _upsert_postgresql(conn, source, rows, run_id, now)
    return _upsert_sqlite(conn, source, rows, run_id, now)


def _update_clause(target: str, incoming: str, *, distinct: str) -> tuple[str, str]:
    assignments = ", ".join(f"{c} = {incoming}.{c}" for c in _VALUES)
    differ = " OR ".join(f"{target}.{c} {distinct} {incoming}.{c}" for c in _VALUES)
    return assignments, differ


def _upsert_postgresql(
    conn: Connection, source: str, rows: Sequence[StagedRow], run_id: int, now: datetime
) -> MergeCounts:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    buffer.seek(0)
    assignments, differ = _update_clause("records", "EXCLUDED", distinct="IS DISTINCT FROM")
    cursor = _dbapi(conn).cursor()
    try:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS etl_stage (record_id text, timestamp timestamp, "
            "asset_id text, symbol text, name text, value float8, market_cap float8, "
            "volume_24h float8) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE etl_stage")
        cursor.copy_expert(f"COPY etl_stage ({_COLUMNS}) FROM STDIN WITH (FORMAT csv)", buffer)
        cursor.execute(
            f"WITH merged AS (INSERT INTO records (source, {_COLUMNS}, run_id, ingested_at) "
            f"SELECT %(source)s, s.record_id, s.timestamp AT TIME ZONE 'UTC', s.asset_id, "
            f"s.symbol, s.name, s.value, s.market_cap, s.volume_24h, %(run_id)s, %(now)s "
            f"FROM etl_stage AS s "
            f"ON CONFLICT (source, record_id, timestamp) DO UPDATE SET {assignments}, "
            f"run_id = EXCLUDED.run_id, ingested_at = EXCLUDED.ingested_at WHERE {differ} "
            f"RETURNING (xmax = 0) AS fresh) "
            f"SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM merged",
            {"source": source, "run_id": run_id, "now": now},
        )
        inserted, updated = cursor.fetchone()
    finally:
        cursor.close()
    return MergeCounts(inserted, updated, len(rows) - inserted - updated)


def _upsert_sqlite(
    conn: Connection, source: str, rows: Sequence[StagedRow], run_id: int, now: datetime
) -> MergeCounts:
    assignments, differ = _update_clause("records", "excluded", distinct="IS NOT")
    _, changed = _update_clause("r", "s", distinct="IS NOT")
    stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    cursor = _dbapi(conn).cursor()
    try:
        _stage_sqlite(cursor, rows)
        existing, updated = cursor.execute(
            f"SELECT count(*), coalesce(sum({changed}), 0) FROM etl_stage s JOIN records r "
            "ON r.source = ? AND r.record_id = s.record_id AND r.timestamp = s.timestamp",
            (source,),
        ).fetchone()
        cursor.execute(
            f"INSERT INTO records (source, {_COLUMNS}, run_id, ingested_at) "
            f"SELECT ?, {_COLUMNS}, ?, ? FROM etl_stage WHERE true "
            f"ON CONFLICT (source, record_id, timestamp) DO UPDATE SET {assignments}, "
            f"run_id = excluded.run_id, ingested_at = excluded.ingested_at WHERE {differ}",
            (source, run_id, stamp),
        )
        cursor.execute("DELETE FROM etl_stage")
    finally:
        cursor.close()
    return MergeCounts(len(rows) - existing, updated, existing - updated)


def insert_fresh_records(
    conn: Connection, source: str, rows: Sequence[StagedRow], run_id: int, now: datetime
) -> bool:
    """Insert ``rows`` whose keys cannot exist yet (newer than every loaded row); True if done.

    The fast path of a load, without conflict handling, in key order: the rows of a
    time-ordered file land at one place per coin in each key-ordered index, and key order
    writes those places one after the other. When a key exists after all (the caller's
    assumption was wrong, e.g. a checkpoint was reset) nothing is written and the answer is
    False: merge the rows with ``upsert_records`` instead.

    PostgreSQL: ``COPY`` straight into ``records`` in a savepoint that a clash rolls back.
    SQLite: when no stored row of ``source`` is as new as the oldest of ``rows`` (one index
    probe) no key can clash, and one ``INSERT OR FAIL`` needs neither a savepoint nor a
    statement journal, which would copy every page the insert touches; otherwise the rows
    are staged and inserted in a savepoint like on PostgreSQL.
    """
    if not rows:
        return True
    ordered = sorted(rows, key=_KEY)
    raw = _dbapi(conn)
    cursor = raw.cursor()
    try:
        if conn.dialect.name == "sqlite":
            if not raw.in_transaction:
                # One snapshot for the probe and the insert; a SAVEPOINT outside a
                # transaction would commit on RELEASE.
                cursor.execute("BEGIN")
            stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            if _sqlite_insert_unclashing(cursor, source, ordered, run_id, stamp):
                return True
        cursor.execute("SAVEPOINT etl_fresh")
        try:
            if conn.dialect.name == "postgresql":
                _copy_fresh(cursor, source, ordered, run_id, now)
            else:
                _stage_sqlite(cursor, ordered)
                cursor.execute(
                    f"INSERT INTO records (source, {_COLUMNS}, run_id, ingested_at) "
                    f"SELECT ?, {_COLUMNS}, ?, ? FROM etl_stage",
                    (source, run_id, stamp),
                )
        except conn.dialect.loaded_dbapi.IntegrityError:
            cursor.execute("ROLLBACK TO SAVEPOINT etl_fresh")
            cursor.execute("RELEASE SAVEPOINT etl_fresh")
            return False
        cursor.execute("RELEASE SAVEPOINT etl_fresh")
        return True
    finally:
        cursor.close()


def _sqlite_insert_unclashing(
    cursor: Any, source: str, rows: Sequence[StagedRow], run_id: int, stamp: str
) -> bool:
    """Insert ``rows`` and return True if no stored row of ``source`` is as new as the
    oldest of them (so none of their keys can exist); otherwise write nothing, return False.

    ``OR FAIL`` only spares SQLite the statement journal: with no key able to clash, a
    failure here is a broken row (say a NULL value), raised to fail the whole transaction.
    """
    _sqlite_pragmas(cursor)
    oldest = min(map(_TIMESTAMP, rows))
    newer = cursor.execute(
        "SELECT 1 FROM records WHERE source = ? AND timestamp >= ? LIMIT 1", (source, oldest)
    ).fetchone()
    if newer is not None:
        return False
    suffix = (source, run_id, stamp)
    cursor.executemany(
        f"INSERT OR FAIL INTO records ({_COLUMNS}, source, run_id, ingested_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        list(map(operator.add, rows, repeat(suffix))),
    )
    return True


def _copy_fresh(
    cursor: Any, source: str, rows: Sequence[StagedRow], run_id: int, now: datetime
) -> None:
    """``COPY`` rows into ``records``; their naive timestamp text is read as UTC."""
    suffix = (source, run_id, now.isoformat())
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(row + suffix for row in rows)
    buffer.seek(0)
    cursor.execute("SET LOCAL TIME ZONE 'UTC'")
    cursor.copy_expert(
        f"COPY records ({_COLUMNS}, source, run_id, ingested_at) FROM STDIN WITH (FORMAT csv)",
        buffer,
    )


def _sqlite_pragmas(cursor: Any) -> None:
    """The page cache and WAL auto-checkpoint of a loading connection."""
    cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_CHECKPOINT_PAGES}")


def _stage_sqlite(cursor: Any, rows: Sequence[StagedRow]) -> None:
    """Put ``rows`` in the connection's temporary ``etl_stage`` table (emptied first), for
    statements that read them as a whole: the merge's counting join and upsert, and the
    fast path's insert in a savepoint."""
    _sqlite_pragmas(cursor)
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS etl_stage (record_id TEXT, timestamp TEXT, "
        "asset_id TEXT, symbol TEXT, name TEXT, value REAL, market_cap REAL, volume_24h REAL)"
    )
    cursor.execute("DELETE FROM etl_stage")
    cursor.executemany("INSERT INTO etl_stage VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def insert_rejects(
    conn: Connection,
    run_id: int,
    source: str,
    items: Iterable[tuple[str, str, str]],
    now: datetime,
) -> int:
    """Store (locator, reason, raw) rejects; return how many.

    Whatever the text, it is stored: NUL characters (which PostgreSQL text cannot hold) as
    U+FFFD, lone surrogates (which UTF-8 cannot encode) as ``\\udXXX`` escapes; the reason
    is cut to ``REASON_LIMIT`` characters.
    """
    values = [
        {
            "run_id": run_id,
            "source": source,
            "locator": storable_text(locator)[:200],
            "reason": storable_text(reason)[:REASON_LIMIT],
            "raw": storable_text(raw),
            "created_at": now,
        }
        for locator, reason, raw in items
    ]
    if values:
        conn.execute(rejects.insert(), values)
    return len(values)


def _dialect_insert(conn: Connection) -> Any:
    """The ``insert`` constructor of ``conn``'s dialect (it has ``on_conflict_do_…``)."""
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def write_checkpoint(
    conn: Connection,
    source: str,
    high_water: datetime | None,
    fingerprint: str | None,
    run_id: int,
    now: datetime,
) -> None:
    values = {
        "source": source,
        "high_water": high_water,
        "fingerprint": fingerprint,
        "run_id": run_id,
        "updated_at": now,
    }
    statement = _dialect_insert(conn)(checkpoints).values(values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["source"],
            set_={key: statement.excluded[key] for key in values if key != "source"},
        )
    )


def forget_position(conn: Connection, source: str) -> None:
    """Clear ``source``'s file fingerprint (its high-water mark stays): the next run reads the
    whole file."""
    conn.execute(
        checkpoints.update().where(checkpoints.c.source == source).values(fingerprint=None)
    )


def insert_assets(
    conn: Connection,
    source: str,
    new_assets: Iterable[tuple[str, str, str]],
    new_aliases: Iterable[tuple[str, str, str]],
    now: datetime,
) -> None:
    """Add (id, symbol, name) assets and (record_id, asset_id, method) aliases of ``source``."""
    asset_rows = [{"id": i, "symbol": s, "name": n, "created_at": now} for i, s, n in new_assets]
    alias_rows = [
        {"source": source, "record_id": r, "asset_id": a, "method": m, "created_at": now}
        for r, a, m in new_aliases
    ]
    insert = _dialect_insert(conn)
    for start in range(0, len(asset_rows), _ROWS_PER_STATEMENT):
        part = asset_rows[start : start + _ROWS_PER_STATEMENT]
        conn.execute(insert(assets).values(part).on_conflict_do_nothing(index_elements=["id"]))
    for start in range(0, len(alias_rows), _ROWS_PER_STATEMENT):
        part = alias_rows[start : start + _ROWS_PER_STATEMENT]
        conn.execute(
            insert(asset_aliases)
            .values(part)
            .on_conflict_do_nothing(index_elements=["source", "record_id"])
        )


def store_payload(
    conn: Connection,
    run_id: int,
    source: str,
    url: str,
    status_code: int,
    fetched_at: datetime,
    content: bytes,
    keep: int,
) -> None:
    """Store one API response gzip-compressed with its sha256; keep the newest ``keep``."""
    conn.execute(
        raw_payloads.insert().values(
            run_id=run_id,
            source=source,
            url=url,
            status_code=status_code,
            fetched_at=fetched_at,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            encoding="gzip",
            content=gzip.compress(content, compresslevel=6),
        )
    )
    conn.execute(
        delete(raw_payloads).where(
            raw_payloads.c.source == source,
            raw_payloads.c.id.not_in(
                select(raw_payloads.c.id)
                .where(raw_payloads.c.source == source)
                .order_by(raw_payloads.c.id.desc())
                .limit(keep)
            ),
        )
    )
