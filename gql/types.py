"""Strawberry object types of the schema (the roots live in ``gql.resolvers``)."""

from __future__ import annotations

import enum
import inspect
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from kasparro.db import queries
from kasparro.db.outcomes import COUNTERS, RunStatus
from kasparro.db.queries import DbRow, Keyset, LatestPrice, Order, RecordFilters, RecordPage
from kasparro.db.record import RECORD_FIELDS, RecordRow
from kasparro.gql.context import Context
from kasparro.gql.cursors import encode_cursor
from kasparro.gql.dbcall import run_db
from kasparro.gql.filters import RecordsRequest, page_size
from kasparro.gql.identity import price_id, record_id, source_run_id

T = TypeVar("T")

REJECTS_MAXIMUM = 100
"""Most rejects one ``SourceRun.rejects`` lists."""


@strawberry.enum(description="Order of records by (timestamp, source, recordId).")
class SortOrder(enum.Enum):
    ASC = "asc"
    DESC = "desc"


strawberry.enum(
    RunStatus,
    description="Outcome of an ETL run, or of one source in it (never PARTIAL).",
)


@strawberry.type(description="Service health: database reachability and the last ETL run.")
class Health:
    db: str = strawberry.field(description="`ok`, or `error` when the database is unreachable.")
    etl_last_run: str = strawberry.field(
        description="Status of the newest ETL run: never, running, success, partial or failed."
    )
    database: str = strawberry.field(description="Database backend: sqlite or postgresql.")
    detail: str | None = strawberry.field(
        description="What is wrong, if anything: `database unreachable`, `database slow`, "
        "`read database unreachable`… (the database's own error text only with DEBUG)."
    )
    read_db: str | None = strawberry.field(
        default=None,
        description="The read database (DATABASE_READ_URL): `ok` or `error`; null when "
        "queries use the primary.",
    )
    slow: bool = strawberry.field(
        default=False,
        description="A database answers, but a read of the served tables (or `SELECT 1`) "
        "waited past HEALTH_TIMEOUT_SECONDS: a lock held by another session, an overloaded "
        "server. Requests may fail with DATABASE_TIMEOUT meanwhile.",
    )


@strawberry.type(description="A canonical coin: one asset across every source that reports it.")
class Asset:
    id: str = strawberry.field(description="Canonical id, e.g. `bitcoin`.")
    symbol: str = strawberry.field(description="Ticker symbol, upper-case.")
    name: str

    @strawberry.field(description="Names of the sources that report this asset.")
    async def sources(self, info: Info[Context, None]) -> list[str]:
        return await info.context.loaders.asset_sources.load(self.id)

    @classmethod
    def from_row(cls, row: DbRow) -> Asset:
        return cls(id=row.id, symbol=row.symbol, name=row.name)


def graphql_name(name: str) -> str:
    """The GraphQL name of a Python field: ``volume_24h`` is ``volume24h``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def with_record_fields(cls: type[T]) -> type[T]:
    """Give ``cls`` a field per declared record field (``db.record.RECORD_FIELDS``), in
    order, ahead of its own; a field ``cls`` annotates itself (a ``Private``) is kept as
    it is. Apply it below ``strawberry.type``."""
    own = inspect.get_annotations(cls)
    fields: dict[str, object] = {}
    for field in RECORD_FIELDS:
        if field.name in own:
            fields[field.name] = own[field.name]
            continue
        fields[field.name] = field.type | None if field.nullable else field.type
        graphql = strawberry.field(name=graphql_name(field.name), description=field.description)
        setattr(cls, field.name, graphql)
    cls.__annotations__ = {**fields, **own}
    return cls


@strawberry.type(
    description="One observation of one asset's USD price at one time from one source."
)
@with_record_fields
class Record:
    """The declared record fields (``with_record_fields``) but the id of its asset, which
    GraphQL shows as the asset itself; ``row`` is the row it was read as."""

    asset_id: strawberry.Private[str]
    row: strawberry.Private[RecordRow]

    @strawberry.field(
        description="Stable, opaque id of this record (from source, recordId and timestamp): "
        "the same in every query, order and page, unique among records."
    )
    def id(self) -> strawberry.ID:
        row = self.row
        return strawberry.ID(record_id(row.source, row.record_id, row.timestamp))

    def cursor(self, order: Order) -> str:
        """This record's cursor when read in ``order``."""
        row = self.row
        return encode_cursor(Keyset(row.timestamp, row.source, row.record_id), order)

    @strawberry.field(description="The canonical asset this record is about.")
    async def asset(self, info: Info[Context, None]) -> Asset:
        row = await info.context.loaders.asset.load(self.asset_id)
        if row is None:
            raise LookupError(f"record refers to missing asset {self.asset_id!r}")
        return Asset.from_row(row)

    @classmethod
    def from_row(cls, row: RecordRow) -> Record:
        return cls(row=row, **row._asdict())


@strawberry.type(description="A record and its position in the connection.")
class RecordEdge:
    node: Record
    order: strawberry.Private[Order]

    @strawberry.field(
        description="Opaque cursor of this row: pass it as `after` to continue after it, or "
        "as `before` to page back from it (same arguments, same order)."
    )
    def cursor(self) -> str:
        return self.node.cursor(self.order)


@strawberry.type(description="Where a page lies in the connection (Relay Cursor Connections).")
class PageInfo:
    more: strawberry.Private[bool]
    """Rows follow the page on the side it was read towards (the end, or paging backward
    the start): the exact flag."""
    request: strawberry.Private[RecordsRequest]

    @strawberry.field(
        description="More rows follow this page: paging forward (`first`), exactly; paging "
        "backward (`last` with `before`), whether any row lies at or after `before`."
    )
    async def has_next_page(self, info: Info[Context, None]) -> bool:
        return await self._flag(info, "hasNextPage")

    @strawberry.field(
        description="Rows come before this page: paging backward (`last`), exactly; paging "
        "forward (`first` with `after`), whether any row lies at or before `after`."
    )
    async def has_previous_page(self, info: Info[Context, None]) -> bool:
        return await self._flag(info, "hasPreviousPage")

    start_cursor: str | None = strawberry.field(
        description="Cursor of the first row of the page (null when it is empty); pass it as "
        "`before` with `last` for the page before."
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last row of the page (null when it is empty); pass it as "
        "`after` for the next page, also on the last page, to poll for rows that arrive."
    )

    async def _flag(self, info: Info[Context, None], name: str) -> bool:
        request = self.request
        if name != request.far_flag:
            return self.more
        if request.start is None:
            return False
        # The far side is probed only when asked for (one indexed query).
        return await run_db(info.context.read_engine, request.beyond)


@strawberry.type(description="A page of records, with cursors to continue.")
class RecordConnection:
    nodes: list[Record]
    page_info: PageInfo
    filters: strawberry.Private[RecordFilters]
    order: strawberry.Private[Order]

    @classmethod
    def of(cls, nodes: list[Record], page: RecordPage, request: RecordsRequest) -> RecordConnection:
        """The connection of ``page``, read for ``request`` (without looking beyond it)."""
        order = request.order
        return cls(
            nodes=nodes,
            page_info=PageInfo(
                more=page.has_previous if request.from_end else page.has_next,
                request=request,
                start_cursor=nodes[0].cursor(order) if nodes else None,
                end_cursor=nodes[-1].cursor(order) if nodes else None,
            ),
            filters=request.filters,
            order=order,
        )

    @strawberry.field
    def edges(self) -> list[RecordEdge]:
        order = self.order
        return [RecordEdge(node=node, order=order) for node in self.nodes]

    @strawberry.field(
        description="Records matching the filters across all pages; counted only when asked."
    )
    async def total_count(self, info: Info[Context, None]) -> int:
        return await run_db(info.context.read_engine, queries.count_records, self.filters)


@strawberry.type(description="The newest price of an asset from one source.")
class AssetPrice:
    asset: Asset
    source: str
    record_id: str
    value: float
    timestamp: datetime

    @strawberry.field(
        description="Stable, opaque id of the newest price of this asset from this source "
        "(the same while the price moves)."
    )
    def id(self) -> strawberry.ID:
        return strawberry.ID(price_id(self.asset.id, self.source))

    @classmethod
    def from_row(cls, row: LatestPrice) -> AssetPrice:
        return cls(
            asset=Asset(id=row.asset_id, symbol=row.asset_symbol, name=row.asset_name),
            source=row.source,
            record_id=row.record_id,
            value=row.value,
            timestamp=row.timestamp,
        )


def with_counters(cls: type[T]) -> type[T]:
    """Give ``cls`` an ``Int!`` field per declared counter (``db.outcomes.COUNTERS``), after
    its ``status`` (first when it has none); apply it below ``strawberry.type``."""
    fields = inspect.get_annotations(cls)
    counters = dict.fromkeys(COUNTERS, "int")
    at = list(fields).index("status") + 1 if "status" in fields else 0
    items = list(fields.items())
    cls.__annotations__ = dict([*items[:at], *counters.items(), *items[at:]])
    return cls


def counter_values(row: DbRow) -> dict[str, int]:
    """The counters of a run log row, by name."""
    return {name: row._mapping[name] for name in COUNTERS}


@strawberry.type(description="One source within an ETL run and what it did.")
@with_counters
class SourceRun:
    source: str
    status: RunStatus
    error: str | None
    note: str | None = strawberry.field(
        description="What else the run has to say: a file unchanged and not read, rejects "
        "counted but not stored (ETL_MAX_REJECTS_STORED)."
    )
    started_at: datetime
    finished_at: datetime | None
    checkpoint_before: datetime | None
    checkpoint_after: datetime | None
    run_id: strawberry.Private[int]

    @strawberry.field(description="Stable, opaque id of this source's part of this run.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(source_run_id(self.run_id, self.source))

    @strawberry.field(
        description="The first stored rejects of this source in this run, oldest first; "
        f"`first` is at most {REJECTS_MAXIMUM}. At most ETL_MAX_REJECTS_STORED are stored "
        "per run (`rejected` counts them all), and REJECTS_RETENTION_DAYS prunes them."
    )
    async def rejects(self, info: Info[Context, None], first: int | None = 10) -> list[Reject]:
        limit = page_size("first", first, default=10, maximum=REJECTS_MAXIMUM, setting=None)
        rows = await info.context.loaders.rejects.load((self.run_id, self.source, limit))
        return [Reject.from_row(row) for row in rows]

    @classmethod
    def from_row(cls, row: DbRow) -> SourceRun:
        return cls(
            run_id=row.run_id,
            source=row.source,
            status=RunStatus(row.status),
            error=row.error,
            note=row.note,
            started_at=row.started_at,
            finished_at=row.finished_at,
            checkpoint_before=row.checkpoint_before,
            checkpoint_after=row.checkpoint_after,
            **counter_values(row),
        )


def duration_ms(started: datetime, finished: datetime | None) -> int | None:
    """Milliseconds between two instants, or None while a run is still going."""
    if finished is None:
        return None
    return round((finished - started).total_seconds() * 1000)


@strawberry.type(description="One stored reject: an input row or item the ETL refused, and why.")
class Reject:
    locator: str = strawberry.field(
        description="Where it was: the CSV line, or the API page and item."
    )
    reason: str
    raw: str = strawberry.field(
        description=f"The refused input as read, its first {queries.REJECT_RAW_SHOWN} "
        "characters (rawChars says how long it is)."
    )
    raw_chars: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: DbRow) -> Reject:
        return cls(
            locator=row.locator,
            reason=row.reason,
            raw=row.raw,
            raw_chars=row.raw_chars,
            created_at=row.created_at,
        )


@strawberry.type(description="One ETL run: its outcome and what each source did.")
class EtlRun:
    id: int
    status: RunStatus
    trigger: str = strawberry.field(description="startup, scheduled or manual.")
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    error: str | None
    read_sources: strawberry.Private[list[Any] | None] = None
    """The sources' rows when read with the run (a subscription's event), else None."""

    @strawberry.field(description="What each source did in this run.")
    async def sources(self, info: Info[Context, None]) -> list[SourceRun]:
        rows = self.read_sources
        if rows is None:
            rows = await info.context.loaders.run_sources.load(self.id)
        return [SourceRun.from_row(row) for row in rows]

    @classmethod
    def from_row(cls, row: DbRow, sources: list[DbRow] | None = None) -> EtlRun:
        return cls(
            read_sources=sources,
            id=row.id,
            status=RunStatus(row.status),
            trigger=row.trigger,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_ms=duration_ms(row.started_at, row.finished_at),
            error=row.error,
        )


@strawberry.type(description="Row counters summed over every source run of every ETL run.")
@with_counters
class RowTotals:
    """Only the counters (``with_counters``)."""


@strawberry.type(description="Figures about the store and the ETL runs that filled it.")
class Stats:
    records_total: int = strawberry.field(description="Records in the store now.")
    records_processed: int = strawberry.field(
        description="Rows the ETL has written over all runs: inserted plus updated."
    )
    rows: RowTotals
    runs_total: int
    assets_total: int
    sources: list[str] = strawberry.field(description="Sources that have run at least once.")
    last_run: EtlRun | None = strawberry.field(
        description="The newest ETL run that did work (skipped runs are passed over)."
    )
