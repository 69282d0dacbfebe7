"""Candles: open, high, low, close of an asset's records per UTC-aligned time bucket.

One query aggregates in the database. A record's bucket is its whole UTC epoch second
rounded down to the interval (``INTERVALS``: a length and an offset, so weeks start on
Monday), computed by a per-dialect expression (``_EPOCH``: PostgreSQL's ``extract``,
SQLite's ``strftime`` of the text it stores, to the second, since SQLite's own date
arithmetic rounds to milliseconds). ``first_value`` and ``last_value`` over one window (the
whole bucket, ordered by ``(timestamp, source, record_id)`` in byte order: the records
order, ties broken by source name) pick the first and the last sample with one sort; an
outer ``GROUP BY`` yields one row per bucket with samples, so a bucket without samples is
absent, ascending, ``LIMIT limit``.

The cost is a range scan of the filtered records (the asset or symbol index) and a sort
of them: it grows with the records in the window asked, not with the buckets
answered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import BigInteger, ColumnElement, Connection, Integer, cast, func, select

from kasparro.db.queries import RecordFilters, _filtered
from kasparro.db.tables import records


class Interval(NamedTuple):
    """A bucket length and where buckets start, both in seconds from the Unix epoch."""

    seconds: int
    offset: int = 0


INTERVALS: dict[str, Interval] = {
    "MINUTE_5": Interval(300),
    "HOUR_1": Interval(3600),
    "DAY_1": Interval(86400),
    # 1970-01-01 was a Thursday: weeks start four days later, on Monday 1970-01-05.
    "WEEK_1": Interval(7 * 86400, 4 * 86400),
}


class Candle(NamedTuple):
    """One bucket with samples: its start, the four prices, how many samples and whose."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    samples: int
    sources: list[str]


def _epoch_postgresql(column: ColumnElement[datetime]) -> ColumnElement[int]:
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def _epoch_sqlite(column: ColumnElement[datetime]) -> ColumnElement[int]:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (db.types.UTCDateTime): whole seconds only.
    return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)


_EPOCH: dict[str, Callable[[ColumnElement[datetime]], ColumnElement[int]]] = {
    "postgresql": _epoch_postgresql,
    "sqlite": _epoch_sqlite,
}

_SOURCES: dict[str, Callable[[ColumnElement[str]], ColumnElement[str]]] = {
    "postgresql": lambda column: func.string_agg(column.distinct(), ","),
    "sqlite": lambda column: func.group_concat(column.distinct()),
}
"""The distinct source names of a bucket, comma-separated (names hold no comma)."""


def candles(
    conn: Connection, filters: RecordFilters, interval: Interval, limit: int
) -> list[Candle]:
    """Up to ``limit`` candles of the records matching ``filters``, oldest bucket first."""
    dialect = conn.dialect.name
    epoch = _EPOCH[dialect](records.c.timestamp)
    size = interval.seconds
    bucket = (epoch - ((epoch - interval.offset) % size + size) % size).label("bucket")
    ties: tuple[ColumnElement[str], ...] = (records.c.source, records.c.record_id)
    if dialect == "postgresql":
        ties = tuple(column.collate("C") for column in ties)
    order = (records.c.timestamp, *ties)
    # One window over the whole bucket for both ends: the rows are sorted once.
    whole: tuple[None, None] = (None, None)
    samples = _filtered(
        select(
            bucket,
            records.c.value,
            records.c.source,
            func.first_value(records.c.value)
            .over(partition_by=bucket, order_by=order, rows=whole)
            .label("open"),
            func.last_value(records.c.value)
            .over(partition_by=bucket, order_by=order, rows=whole)
            .label("close"),
        ),
        filters,
    ).subquery()
    query = (
        select(
            samples.c.bucket,
            func.min(samples.c.open),
            func.max(samples.c.value),
            func.min(samples.c.value),
            func.min(samples.c.close),
            func.count(),
            _SOURCES[dialect](samples.c.source),
        )
        .group_by(samples.c.bucket)
        .order_by(samples.c.bucket)
        .limit(limit)
    )
    return [
        Candle(
            datetime.fromtimestamp(start, UTC),
            open_,
            high,
            low,
            close,
            count,
            sorted(names.split(",")),
        )
        for start, open_, high, low, close, count, names in conn.execute(query)
    ]
