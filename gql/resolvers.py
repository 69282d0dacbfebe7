"""The Query and Mutation roots: thin adapters over ``db.queries``, no SQL of their own."""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy import Connection
from strawberry.types import Info

from kasparro.db import queries
from kasparro.db.outcomes import RunStatus
from kasparro.gql import filters, products
from kasparro.gql.admin import authorize, run_etl_now
from kasparro.gql.context import Context
from kasparro.gql.dbcall import run_db
from kasparro.gql.types import (
    Asset,
    AssetPrice,
    EtlRun,
    Health,
    Record,
    RecordConnection,
    RowTotals,
    SortOrder,
    Stats,
)

RUNS_MAXIMUM = 100


def _record_page(
    conn: Connection, request: filters.RecordsRequest
) -> tuple[list[Record], queries.RecordPage]:
    """One page and its Record objects, built in the worker thread (off the event loop)."""
    page = request.read(conn, look_beyond=False)  # pageInfo looks when asked (PageInfo)
    return [Record.from_row(row) for row in page.rows], page


@strawberry.type
class Query:
    @strawberry.field(description="Database status and the outcome of the newest ETL run.")
    async def health(self, info: Info[Context, None]) -> Health:
        report = await info.context.health.check()
        return Health(
            db=report.db,
            etl_last_run=report.etl_last_run,
            database=report.database,
            detail=report.detail,
            read_db=report.read_db,
            slow=report.slow,
        )

    @strawberry.field(
        description="Records newest first (or oldest first), filtered by any combination of "
        "arguments; `since` is inclusive, `until` exclusive; symbols ignore case. A Relay "
        "connection: page forward with `first` and `after` (pageInfo.endCursor), backward "
        "with `last` and `before` (pageInfo.startCursor); `first` defaults to "
        "DEFAULT_PAGE_SIZE, either is at most MAX_PAGE_SIZE, and not both."
    )
    async def records(
        self,
        info: Info[Context, None],
        source: list[str] | None = None,
        record_id: list[str] | None = None,
        asset: list[str] | None = None,
        symbol: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order: SortOrder | None = SortOrder.DESC,
    ) -> RecordConnection:
        config = info.context.config
        request = filters.records_request(
            source=source,
            record_id=record_id,
            asset=asset,
            symbol=symbol,
            since=since,
            until=until,
            first=first,
            after=after,
            last=last,
            before=before,
            order=order,
            default_size=config.default_page_size,
            max_size=config.max_page_size,
        )
        nodes, page = await run_db(info.context.read_engine, _record_page, request)
        return RecordConnection.of(nodes, page, request)

    @strawberry.field(description="ETL runs, newest first.")
    async def etl_runs(
        self, info: Info[Context, None], first: int | None = 20, status: RunStatus | None = None
    ) -> list[EtlRun]:
        limit = filters.page_size("first", first, default=20, maximum=RUNS_MAXIMUM, setting=None)
        rows = await run_db(
            info.context.read_engine,
            queries.etl_run_list,
            limit,
            status.value if status is not None else None,
        )
        return [EtlRun.from_row(row) for row in rows]

    @strawberry.field(
        description="Canonical assets ordered by id, optionally by symbol; `first` is "
        "DEFAULT_PAGE_SIZE when absent, at most MAX_PAGE_SIZE."
    )
    async def assets(
        self, info: Info[Context, None], symbol: str | None = None, first: int | None = None
    ) -> list[Asset]:
        config = info.context.config
        limit = filters.page_size(
            "first", first, default=config.default_page_size, maximum=config.max_page_size
        )
        wanted = filters.symbols("symbol", [symbol] if symbol is not None else None)
        rows = await run_db(
            info.context.read_engine, queries.asset_list, wanted[0] if wanted else None, limit
        )
        return [Asset.from_row(row) for row in rows]

    @strawberry.field(description="The newest price per asset and source.")
    async def latest_prices(
        self,
        info: Info[Context, None],
        asset: list[str] | None = None,
        symbol: list[str] | None = None,
    ) -> list[AssetPrice]:
        wanted = filters.prices_request(asset=asset, symbol=symbol)
        prices = await run_db(
            info.context.read_engine, info.context.prices.read, wanted.asset_ids, wanted.symbols
        )
        return [AssetPrice.from_row(row) for row in prices.rows]

    candles = products.candles_field
    consensus = products.consensus_field
    divergences = products.divergences_field

    @strawberry.field(description="Store and ETL figures, from the run tables.")
    async def stats(self, info: Info[Context, None]) -> Stats:
        figures = await run_db(info.context.read_engine, queries.store_stats)
        return Stats(
            records_total=figures.records_total,
            records_processed=figures.records_processed,
            rows=RowTotals(**figures.rows._asdict()),
            runs_total=figures.runs_total,
            assets_total=figures.assets_total,
            sources=figures.sources,
            last_run=EtlRun.from_row(figures.last_run) if figures.last_run else None,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Run the ETL now (only `sources` when given) and return the run. "
        "Needs `Authorization: Bearer <ADMIN_TOKEN>`."
    )
    async def run_etl(self, info: Info[Context, None], sources: list[str] | None = None) -> EtlRun:
        context = info.context
        authorize(context.config.admin_token, context.request.headers.get("authorization"))
        names = filters.sources("sources", sources) or None
        row = await run_etl_now(context.engine, context.etl, names)
        return EtlRun.from_row(row)
