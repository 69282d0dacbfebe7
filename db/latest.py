"""``latest_records``: the newest record of every ``(source, record_id)``, kept by the writers.

``latest_prices`` reads this small table (one row per key, a few thousand) instead of
looking for ``max(timestamp)`` per key in ``records``. Every writer of ``records`` keeps it
exact in the same transaction:

- the ETL gathers the newest row per key of the rows a transaction writes (``Newest``) and
  upserts them just before it commits (``upsert``); a key's row is replaced by a row at the
  same or a newer timestamp, so a corrected value at the newest timestamp replaces the old
  one and an older row loaded late (lookback, backfill) leaves it alone;
- retention removes the rows whose record it deleted (``forget_pruned``);
- bulk writers that bypass the ETL rebuild it in one statement (``fill``).

Each of these also moves the counter in ``latest_version`` (``bump``) as the last statement
of the change, in the same transaction, so a reader holding an answer built after it read
the counter at N knows the answer is current while the counter still reads N
(``db.latest_cache``). The counter's row lock is taken last and held only until the commit
that follows, so concurrent writers queue on it briefly and never deadlock over it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import TypeAlias

from sqlalchemy import Connection, delete, exists, insert, select, text, update

from kasparro.db import changes
from kasparro.db.load import StagedRow
from kasparro.db.tables import latest_records, latest_version, records

FILL_SQL = (
    "INSERT INTO latest_records (source, record_id, timestamp, value) "
    "SELECT r.source, r.record_id, r.timestamp, r.value FROM records AS r JOIN ("
    "SELECT source, record_id, max(timestamp) AS newest FROM records GROUP BY source, record_id"
    ") AS heads ON r.source = heads.source AND r.record_id = heads.record_id "
    "AND r.timestamp = heads.newest"
)
"""Every key's newest record in one set-based statement, the same on both backends: group
by key, then fetch each head by primary key (1M records on PostgreSQL: 0.9 s, where
``DISTINCT ON`` sorted every row: 3.3 s). Migration 0003 holds its own copy."""

_CHANGES = (
    "latest_records.timestamp < excluded.timestamp OR (latest_records.timestamp = "
    "excluded.timestamp AND latest_records.value <> excluded.value)"
)
"""A row changes a key's stored row when it is newer, or a correction at the same time; the
same row again (a lookback or an unchanged re-run) writes nothing and counts nothing."""

# The rows travel as one JSON array of [record_id, timestamp, value]: psycopg2 adapts a
# list of strings element by element, which cost more than the upsert itself.
_UPSERT_POSTGRESQL = text(
    "INSERT INTO latest_records (source, record_id, timestamp, value) "
    "SELECT :source, e->>0, (e->>1)::timestamp AT TIME ZONE 'UTC', (e->>2)::float8 "
    "FROM json_array_elements(CAST(:rows AS json)) AS e "
    "ON CONFLICT (source, record_id) DO UPDATE SET "
    "timestamp = excluded.timestamp, value = excluded.value "
    f"WHERE {_CHANGES}"
)

_UPSERT_SQLITE = text(
    "INSERT INTO latest_records (source, record_id, timestamp, value) "
    "VALUES (:source, :record_id, :stamp, :value) "
    "ON CONFLICT (source, record_id) DO UPDATE SET "
    "timestamp = excluded.timestamp, value = excluded.value "
    f"WHERE {_CHANGES}"
)


class Newest:
    """The newest written row per record id of one source, over one transaction's chunks.

    ``add`` the rows each write put in ``records`` (staged rows, naive-UTC timestamp
    text); ``upsert`` the result before the commit, then
    ``clear``. Of two rows at one timestamp the later one wins, as it does in ``records``.
    """

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        self._rows: dict[str, tuple[str, float]] = {}

    def add(self, rows: Iterable[StagedRow]) -> None:
        held = self._rows
        for row in rows:
            current = held.get(row.record_id)
            if current is None or row.timestamp >= current[0]:
                held[row.record_id] = (row.timestamp, row.value)

    def upsert(self, conn: Connection, source: str) -> None:
        """Write the gathered rows into ``latest_records`` (inside ``conn``'s transaction)."""
        if self._rows:
            upsert(conn, source, ((r, t, v) for r, (t, v) in self._rows.items()))

    def clear(self) -> None:
        self._rows.clear()


def upsert(conn: Connection, source: str, rows: Iterable[tuple[str, str, float]]) -> int:
    """Offer (record_id, naive-UTC timestamp text, value) rows of ``source``, unique by id.

    A row replaces a key's stored row only when it is newer, or at the same timestamp with
    another value. The counter moves when a row changed; return how many did.
    """
    offered = list(rows)
    if not offered:
        return 0
    if conn.dialect.name == "postgresql":
        result = conn.execute(_UPSERT_POSTGRESQL, {"source": source, "rows": json.dumps(offered)})
    else:
        result = conn.execute(
            _UPSERT_SQLITE,
            [{"source": source, "record_id": r, "stamp": t, "value": v} for r, t, v in offered],
        )
    changed = result.rowcount
    if changed:
        bump(conn)
    return changed


def fill(conn: Connection) -> int:
    """Rebuild ``latest_records`` from ``records`` with one set-based statement; return rows."""
    conn.execute(text("DELETE FROM latest_records"))
    filled = conn.execute(text(FILL_SQL)).rowcount
    bump(conn)
    return filled


def forget_pruned(conn: Connection, cutoff: datetime) -> None:
    """After records older than ``cutoff`` were deleted in ``conn``'s transaction: drop the
    rows whose record is gone.

    Retention deletes records oldest first, so a key's newest record goes only together with
    all of its older ones: its key is left without records. Should a key still have one
    (an older row a concurrent load committed meanwhile), its newest remaining row returns.
    """
    its_record = exists().where(
        records.c.source == latest_records.c.source,
        records.c.record_id == latest_records.c.record_id,
        records.c.timestamp == latest_records.c.timestamp,
    )
    gone = conn.execute(
        delete(latest_records)
        .where(latest_records.c.timestamp < cutoff, ~its_record)
        .returning(latest_records.c.source, latest_records.c.record_id)
    ).all()
    for source, record_id in gone:
        newest = (
            select(records.c.source, records.c.record_id, records.c.timestamp, records.c.value)
            .where(records.c.source == source, records.c.record_id == record_id)
            .order_by(records.c.timestamp.desc())
            .limit(1)
        )
        conn.execute(
            insert(latest_records).from_select(
                ["source", "record_id", "timestamp", "value"], newest
            )
        )
    if gone:
        bump(conn)


Version: TypeAlias = tuple[int, int]
"""``(version, token)`` of ``latest_version``: the number counts the changes, the token is
drawn afresh by each, so a store restored from a backup (its number going back, then
counting up again) never repeats a pair a process has kept."""


def bump(conn: Connection) -> None:
    """Move ``latest_version`` on: call last in a transaction that changed ``latest_records``.

    On PostgreSQL it also notifies the serving processes (``db.changes``), delivered when
    the transaction commits."""
    conn.execute(
        update(latest_version).values(
            version=latest_version.c.version + 1, token=secrets.randbits(63)
        )
    )
    changes.notify(conn, changes.PRICES)


def version(conn: Connection) -> Version | None:
    """The counter as ``conn`` sees it now (None on a store without its row)."""
    row = conn.execute(select(latest_version.c.version, latest_version.c.token)).one_or_none()
    return None if row is None else (row[0], row[1])
