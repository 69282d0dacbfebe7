"""Read queries shared by GraphQL resolvers and REST shims.

Every function takes an open ``Connection`` and typed arguments and returns plain rows or
dataclasses; the HTTP layers hold no SQL of their own.

Records are read page by page with keyset pagination over ``(timestamp, source,
record_id)``: a page is one query, ``ORDER BY`` the key ``LIMIT limit + 1`` (the extra row
only tells whether another page follows) after a row-value comparison with the last key
seen. Paging backward (Relay's ``last``/``before``) is the same query read in the reverse
order, its rows then turned round. There is no OFFSET anywhere, so page 10,000 costs what
page 1 costs, from either end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, TypeAlias

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    String,
    and_,
    func,
    select,
    text,
    tuple_,
    type_coerce,
)

from kasparro.db.outcomes import COUNTERS, Counters, RunStatus
from kasparro.db.record import RECORD_COLUMNS, RecordRow
from kasparro.db.tables import (
    asset_aliases,
    assets,
    etl_run_sources,
    etl_runs,
    latest_records,
    rejects,
)
from kasparro.db.tables import records as record_table

Order = Literal["asc", "desc"]

DbRow: TypeAlias = "Row[*tuple[Any, ...]]"
"""A result row of any width; columns are read by attribute (``row.source``)."""

_record_row = RecordRow._make
_KEY = (record_table.c.timestamp, record_table.c.source, record_table.c.record_id)


@dataclass(frozen=True, slots=True)
class RecordFilters:
    """Which records to read; every field narrows the set, empty tuples do not filter.

    ``symbols`` must already be upper-case and ``sources`` lower-case (that is how they
    are stored). ``since`` is inclusive, ``until`` exclusive; both timezone-aware.
    """

    sources: tuple[str, ...] = ()
    record_ids: tuple[str, ...] = ()
    asset_ids: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Keyset:
    """A position in the records order: the key of the last row a client has seen."""

    timestamp: datetime
    source: str
    record_id: str


@dataclass(frozen=True, slots=True)
class RecordPage:
    """One page of records (in the order asked for), whether more follow it in that order
    (``has_next``) and whether any come before it (``has_previous``)."""

    rows: Sequence[RecordRow]
    has_next: bool
    has_previous: bool = False

    @property
    def next_key(self) -> Keyset | None:
        """The key to continue after, or None on the last page."""
        if not self.has_next or not self.rows:
            return None
        last = self.rows[-1]
        return Keyset(last.timestamp, last.source, last.record_id)


def ping(conn: Connection) -> None:
    """Raise if the database does not answer a trivial query."""
    conn.execute(text("SELECT 1")).scalar_one()


def etl_last_run_status(conn: Connection) -> str:
    """Status of the newest ETL run that did work: never, running, success, partial, failed.

    Runs recorded as ``skipped`` (another process held the ETL lock) are passed over.
    """
    status = conn.execute(
        select(etl_runs.c.status)
        .where(etl_runs.c.status != RunStatus.SKIPPED)
        .order_by(etl_runs.c.started_at.desc(), etl_runs.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return status if status is not None else "never"


def _filtered(query: Select[Any], filters: RecordFilters) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = []
    if filters.sources:
        conditions.append(record_table.c.source.in_(filters.sources))
    if filters.record_ids:
        conditions.append(record_table.c.record_id.in_(filters.record_ids))
    if filters.asset_ids:
        conditions.append(record_table.c.asset_id.in_(filters.asset_ids))
    if filters.symbols:
        conditions.append(record_table.c.symbol.in_(filters.symbols))
    if filters.since is not None:
        conditions.append(record_table.c.timestamp >= filters.since)
    if filters.until is not None:
        conditions.append(record_table.c.timestamp < filters.until)
    return query.where(and_(*conditions)) if conditions else query


def records(
    conn: Connection,
    filters: RecordFilters,
    after: Keyset | None,
    limit: int,
    order: Order = "desc",
    *,
    before: Keyset | None = None,
    from_end: bool = False,
    look_beyond: bool = False,
) -> RecordPage:
    """Up to ``limit`` records matching ``filters`` that come after ``after`` (and before
    ``before``) in ``order``: the first ``limit`` of them, or with ``from_end`` the last.

    Newest first for ``desc``; ties on the timestamp are broken by source, then record_id,
    so the order is total and every row appears on exactly one page. ``limit`` may be 0
    (the page then only says whether rows exist). The page knows whether more rows follow
    on the side it was read towards (the end, or with ``from_end`` the start); with
    ``look_beyond`` it also asks whether any lie on the other side of the cursor it started
    from (at or before ``after``, or with ``from_end`` at or after ``before``): one more
    indexed query, only when that cursor is given.
    """
    query = _filtered(select(*RECORD_COLUMNS), filters)
    if after is not None:
        query = query.where(_beyond(after, order, inclusive=False))
    if before is not None:
        query = query.where(_beyond(before, _REVERSE[order], inclusive=False))
    reading: Order = _REVERSE[order] if from_end else order
    rows = conn.execute(_ordered(query, reading).limit(limit + 1)).all()
    more = len(rows) > limit
    behind = look_beyond and rows_beyond(conn, filters, after, before, order, from_end=from_end)
    page = list(map(_record_row, rows[:limit]))
    if from_end:
        return RecordPage(page[::-1], has_next=behind, has_previous=more)
    return RecordPage(page, has_next=more, has_previous=behind)


_REVERSE: dict[Order, Order] = {"asc": "desc", "desc": "asc"}


def _beyond(key: Keyset, order: Order, *, inclusive: bool) -> ColumnElement[bool]:
    """Rows that come after ``key`` in ``order`` (``key`` itself too when ``inclusive``)."""
    row = tuple_(*_KEY)
    position = tuple_(key.timestamp, key.source, key.record_id)
    if order == "desc":
        return row <= position if inclusive else row < position
    return row >= position if inclusive else row > position


def _ordered(query: Select[Any], order: Order) -> Select[Any]:
    if order == "desc":
        return query.order_by(*(column.desc() for column in _KEY))
    return query.order_by(*_KEY)


def rows_beyond(
    conn: Connection,
    filters: RecordFilters,
    after: Keyset | None,
    before: Keyset | None,
    order: Order,
    *,
    from_end: bool,
) -> bool:
    """Whether a row matching ``filters`` lies on the far side of the cursor a page of
    ``records`` started from: at or before ``after``, or with ``from_end`` at or after
    ``before``; False without that cursor. Read nearest first, so the row at the cursor
    (still there in the common case) answers at the first index entry."""
    start = before if from_end else after
    if start is None:
        return False
    behind = order if from_end else _REVERSE[order]
    query = _filtered(select(*_KEY), filters).where(_beyond(start, behind, inclusive=True))
    return conn.execute(_ordered(query, behind).limit(1)).first() is not None


def count_records(conn: Connection, filters: RecordFilters) -> int:
    """How many records match ``filters`` (what ``totalCount`` reports)."""
    query = _filtered(select(func.count()).select_from(record_table), filters)
    return int(conn.execute(query).scalar_one())


_ASSET_COLUMNS = (assets.c.id, assets.c.symbol, assets.c.name)


def assets_by_ids(conn: Connection, ids: Sequence[str]) -> list[DbRow]:
    """The assets with these canonical ids (one ``IN`` query; missing ids are left out)."""
    if not ids:
        return []
    return list(conn.execute(select(*_ASSET_COLUMNS).where(assets.c.id.in_(ids))).all())


def asset_list(conn: Connection, symbol: str | None, limit: int) -> list[DbRow]:
    """Up to ``limit`` assets ordered by id, optionally only those with ``symbol`` (upper)."""
    query = select(*_ASSET_COLUMNS).order_by(assets.c.id).limit(limit)
    if symbol is not None:
        query = query.where(assets.c.symbol == symbol)
    return list(conn.execute(query).all())


def sources_by_asset(conn: Connection, ids: Sequence[str]) -> dict[str, list[str]]:
    """The source names that report each asset, from the alias table (one ``IN`` query).

    Every ``(source, record_id)`` the ETL loads is resolved through ``asset_aliases``, so
    the aliases name exactly the sources that report an asset, without scanning records.
    """
    found: dict[str, list[str]] = {asset_id: [] for asset_id in ids}
    if not ids:
        return found
    query = (
        select(asset_aliases.c.asset_id, asset_aliases.c.source)
        .where(asset_aliases.c.asset_id.in_(ids))
        .group_by(asset_aliases.c.asset_id, asset_aliases.c.source)
        .order_by(asset_aliases.c.asset_id, asset_aliases.c.source)
    )
    for asset_id, source in conn.execute(query):
        found[asset_id].append(source)
    return found


class LatestPrice(NamedTuple):
    """One row of ``latest_prices``: an asset's newest price from one source."""

    asset_id: str
    source: str
    record_id: str
    value: float
    timestamp: datetime
    asset_symbol: str
    asset_name: str


def latest_prices(
    conn: Connection, asset_ids: Sequence[str] = (), symbols: Sequence[str] = ()
) -> list[LatestPrice]:
    """The newest record per asset and source, ordered by asset id then source.

    Plan (chosen to stay fast at 10M records and ~1000 assets): read ``latest_records``,
    which the loader keeps at each ``(source, record_id)``'s newest record (``db.latest``),
    joined to ``asset_aliases`` (one row per key, a few thousand) and ``assets``. The cost
    grows with the number of aliases, never with the number of records. The asset reported
    is the alias's asset, the one the ETL resolved the rows to. When a source has two record
    ids for one asset, the newer row wins (ties: the smaller record id).

    The timestamp travels as fixed-width UTC text (``_UTC_TEXT``) and becomes a datetime
    once per distinct value: rows of one load share a few timestamps, and turning 4,000
    ``timestamptz`` values into datetimes one by one was half the time of the whole read.
    """
    query = (
        select(
            asset_aliases.c.asset_id,
            latest_records.c.source,
            latest_records.c.record_id,
            latest_records.c.value,
            _utc_text(conn, latest_records.c.timestamp).label("stamp"),
            assets.c.symbol,
            assets.c.name,
        )
        .select_from(asset_aliases)
        .join(assets, assets.c.id == asset_aliases.c.asset_id)
        .join(
            latest_records,
            and_(
                latest_records.c.source == asset_aliases.c.source,
                latest_records.c.record_id == asset_aliases.c.record_id,
            ),
        )
    )
    if asset_ids:
        query = query.where(asset_aliases.c.asset_id.in_(asset_ids))
    if symbols:
        query = query.where(assets.c.symbol.in_(symbols))
    # Ordered by (asset, source) in byte order (PostgreSQL's "C" collation, SQLite's
    # default), which for UTF-8 is Python's code-point order on every server; of each
    # (asset, source), the best row is kept: newest (the text sorts as the time does),
    # then smallest record id.
    order: list[ColumnElement[str]] = [asset_aliases.c.asset_id, latest_records.c.source]
    if conn.dialect.name == "postgresql":
        order = [column.collate("C") for column in order]
    newest: list[DbRow] = []
    last = None
    for row in conn.execute(query.order_by(*order)).all():
        if (key := (row.asset_id, row.source)) != last:
            newest.append(row)
            last = key
        elif (row.stamp, newest[-1].record_id) > (newest[-1].stamp, row.record_id):
            newest[-1] = row
    stamps: dict[str, datetime] = {}
    prices = []
    for row in newest:
        moment = stamps.get(row.stamp)
        if moment is None:
            moment = stamps[row.stamp] = datetime.fromisoformat(row.stamp).replace(tzinfo=UTC)
        prices.append(
            LatestPrice(
                row.asset_id, row.source, row.record_id, row.value, moment, row.symbol, row.name
            )
        )
    return prices


_UTC_TEXT = "YYYY-MM-DD HH24:MI:SS.US"
"""``to_char`` format of a timestamp as UTC text, the way SQLite stores one
(``db.types.UTCDateTime``): fixed width, so it sorts in time order."""


def _utc_text(conn: Connection, column: ColumnElement[datetime]) -> ColumnElement[str]:
    """``column`` as naive UTC text on either backend, read without conversion."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), _UTC_TEXT, type_=String)
    return type_coerce(column, String)


RUN_COLUMNS = (
    etl_runs.c.id,
    etl_runs.c.status,
    etl_runs.c.trigger,
    etl_runs.c.started_at,
    etl_runs.c.finished_at,
    etl_runs.c.error,
)


def etl_run_list(conn: Connection, limit: int, status: str | None = None) -> list[DbRow]:
    """The newest ``limit`` ETL runs, optionally only those with ``status``."""
    query = (
        select(*RUN_COLUMNS)
        .order_by(etl_runs.c.started_at.desc(), etl_runs.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(etl_runs.c.status == status)
    return list(conn.execute(query).all())


def etl_run(conn: Connection, run_id: int) -> DbRow | None:
    """One ETL run by id, or None."""
    return conn.execute(select(*RUN_COLUMNS).where(etl_runs.c.id == run_id)).one_or_none()


def run_sources_by_run(conn: Connection, run_ids: Sequence[int]) -> dict[int, list[DbRow]]:
    """The per-source rows of each run, in one ``IN`` query, ordered by source start."""
    found: dict[int, list[DbRow]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return found
    query = (
        select(etl_run_sources)
        .where(etl_run_sources.c.run_id.in_(run_ids))
        .order_by(etl_run_sources.c.run_id, etl_run_sources.c.started_at, etl_run_sources.c.source)
    )
    for row in conn.execute(query):
        found[row.run_id].append(row)
    return found


REJECT_RAW_SHOWN = 1000
"""Characters of a reject's raw text a reader is shown (``raw_chars`` says how many there are)."""


def rejects_by_source_run(
    conn: Connection, keys: Sequence[tuple[int, str]], limit: int
) -> dict[tuple[int, str], list[DbRow]]:
    """The first ``limit`` stored rejects (by id) of each (run id, source), in one query:
    locator, reason, the first ``REJECT_RAW_SHOWN`` characters of the raw text, its length
    and when it was stored."""
    found: dict[tuple[int, str], list[DbRow]] = {key: [] for key in keys}
    if not keys or limit <= 0:
        return found
    ranked = (
        select(
            rejects.c.run_id,
            rejects.c.source,
            rejects.c.locator,
            rejects.c.reason,
            func.substr(rejects.c.raw, 1, REJECT_RAW_SHOWN).label("raw"),
            func.length(rejects.c.raw).label("raw_chars"),
            rejects.c.created_at,
            func.row_number()
            .over(partition_by=(rejects.c.run_id, rejects.c.source), order_by=rejects.c.id)
            .label("position"),
        )
        .where(
            rejects.c.run_id.in_(sorted({run_id for run_id, _ in keys})),
            rejects.c.source.in_(sorted({source for _, source in keys})),
        )
        .subquery()
    )
    query = select(ranked).where(ranked.c.position <= limit).order_by(ranked.c.position)
    for row in conn.execute(query):
        kept = found.get((row.run_id, row.source))
        if kept is not None:
            kept.append(row)
    return found


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Figures about the store and the ETL runs that filled it.

    - ``records_total``: rows in ``records`` now (an exact ``count(*)``).
    - ``records_processed``: rows the ETL has written, summed over every source run of
      every run: ``inserted + updated`` (new observations plus corrections). Unchanged
      duplicates, skipped and rejected rows are counted in ``rows`` but not here.
    - ``rows``: the per-source-run counters (``db.outcomes.Counters``) summed over all runs.
    - ``runs_total``: ETL runs recorded, including skipped ones.
    - ``assets_total``: canonical assets.
    - ``sources``: the sources that have been run at least once, sorted.
    - ``last_run``: the newest run that did work (skipped runs are passed over), or None.
    """

    records_total: int
    records_processed: int
    rows: Counters
    runs_total: int
    assets_total: int
    sources: list[str]
    last_run: DbRow | None


def store_stats(conn: Connection) -> StoreStats:
    """The figures of ``/stats`` and GraphQL ``stats``, straight from the tables."""
    sums = conn.execute(
        select(*(func.coalesce(func.sum(etl_run_sources.c[name]), 0) for name in COUNTERS))
    ).one()
    rows = Counters(*map(int, sums))
    last_run = conn.execute(
        select(*RUN_COLUMNS)
        .where(etl_runs.c.status != RunStatus.SKIPPED)
        .order_by(etl_runs.c.started_at.desc(), etl_runs.c.id.desc())
        .limit(1)
    ).one_or_none()
    sources = conn.execute(
        select(etl_run_sources.c.source).distinct().order_by(etl_run_sources.c.source)
    ).scalars()
    return StoreStats(
        records_total=int(
            conn.execute(select(func.count()).select_from(record_table)).scalar_one()
        ),
        records_processed=rows.inserted + rows.updated,
        rows=rows,
        runs_total=int(conn.execute(select(func.count()).select_from(etl_runs)).scalar_one()),
        assets_total=int(conn.execute(select(func.count()).select_from(assets)).scalar_one()),
        sources=list(sources),
        last_run=last_run,
    )
