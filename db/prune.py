"""Retention: delete rows older than a cutoff, in short batches.

Each batch is one ``DELETE … WHERE key IN (SELECT key … WHERE time < cutoff ORDER BY … LIMIT n)``
committed in its own transaction, so no statement holds row locks for long and a concurrent
ETL keeps loading. The subquery walks an index (the ``id`` primary key, or ``records``'
``(timestamp, source, record_id)`` index), so each batch stops after ``n`` old rows instead of
sorting the whole table. The same statements run on SQLite and PostgreSQL. A batch of
``records`` also drops, in its transaction, the ``latest_records`` rows whose record it deleted
(``db.latest.forget_pruned``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, select, tuple_

from kasparro.db.latest import forget_pruned
from kasparro.db.tables import raw_payloads, records, rejects

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10_000

_AGE = re.compile(r"^\s*([0-9]+)\s*([hdw])\s*$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True, slots=True)
class PruneTarget:
    """A table that retention can shrink: which column dates a row, and how to walk it.

    ``after_batch(conn, cutoff)`` runs in each batch's transaction after its delete.
    """

    table: Table
    time_column: str
    order_by: tuple[str, ...]
    after_batch: Callable[[Connection, datetime], None] | None = None

    @property
    def name(self) -> str:
        return self.table.name


# Raw payloads first: they are the bulk of what retention is for.
TARGETS: tuple[PruneTarget, ...] = (
    PruneTarget(raw_payloads, "fetched_at", ("id",)),
    PruneTarget(records, "timestamp", ("timestamp", "source", "record_id"), forget_pruned),
    PruneTarget(rejects, "created_at", ("id",)),
)


def parse_age(text: str) -> timedelta:
    """``90d`` → 90 days; also ``12h`` and ``2w``. Raise ``ValueError`` on anything else."""
    match = _AGE.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"expected a positive age like 90d, 12h or 2w, got {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _key(table: Table) -> ColumnElement[Any]:
    columns = list(table.primary_key.columns)
    return columns[0] if len(columns) == 1 else tuple_(*columns)


def prune_table(
    engine: Engine, target: PruneTarget, cutoff: datetime, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> int:
    """Delete ``target``'s rows dated strictly before ``cutoff``; return how many went.

    ``cutoff`` must be timezone-aware. Every batch of at most ``batch_size`` rows commits on
    its own, so an interrupted prune keeps what it already deleted and can simply be re-run.
    """
    if cutoff.tzinfo is None or cutoff.utcoffset() is None:
        raise ValueError(f"naive cutoff {cutoff!r}: pass a timezone-aware datetime")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    table = target.table
    primary_key = list(table.primary_key.columns)
    oldest = (
        select(*primary_key)
        .where(table.c[target.time_column] < cutoff)
        .order_by(*(table.c[name] for name in target.order_by))
        .limit(batch_size)
    )
    statement = delete(table).where(_key(table).in_(oldest))
    total = 0
    while True:
        with engine.begin() as conn:
            deleted = conn.execute(statement).rowcount
            if deleted and target.after_batch is not None:
                target.after_batch(conn, cutoff)
        total += deleted
        if deleted:
            log.debug("pruned a batch", extra={"table": table.name, "rows": deleted})
        if deleted < batch_size:
            return total


def prune(
    engine: Engine,
    cutoff: datetime,
    *,
    tables: Sequence[str] = ("raw_payloads",),
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, int]:
    """Prune each named table (a name from ``TARGETS``) in ``TARGETS`` order.

    Return ``{table name: rows deleted}`` for the tables asked for.
    """
    known = {target.name for target in TARGETS}
    unknown = sorted(set(tables) - known)
    if unknown:
        raise ValueError(f"cannot prune {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return {
        target.name: prune_table(engine, target, cutoff, batch_size=batch_size)
        for target in TARGETS
        if target.name in tables
    }
