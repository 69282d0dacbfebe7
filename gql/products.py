"""GraphQL data products: ``candles``, cross-source ``consensus`` and ``divergences``.

Thin adapters over ``db.candles`` and ``db.consensus`` (which computes over the app's
cached latest prices, ``db.latest_cache``); the REST twins in ``gql.products_rest`` check
their input with the same functions and call the same queries.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import strawberry
from sqlalchemy import Connection
from strawberry.types import Info

from kasparro.db import candles as candles_db
from kasparro.db import consensus as consensus_db
from kasparro.db.candles import INTERVALS, Interval
from kasparro.db.consensus import ConsensusRules
from kasparro.db.latest_cache import PricesCache
from kasparro.db.queries import RecordFilters
from kasparro.gql import filters
from kasparro.gql.config import AppConfig
from kasparro.gql.context import Context
from kasparro.gql.dbcall import run_db
from kasparro.gql.errors import BadInput
from kasparro.gql.types import Asset

DIVERGENCES_DEFAULT = 100
CANDLES_DEFAULT = 500


def consensus_rules(config: AppConfig) -> ConsensusRules:
    """The rules of CONSENSUS_MAX_AGE_SECONDS and CONSENSUS_OUTLIER_PCT."""
    return ConsensusRules(
        max_age=timedelta(seconds=config.consensus_max_age_seconds),
        outlier_pct=config.consensus_outlier_pct,
    )


def read_consensus(
    conn: Connection,
    cache: PricesCache,
    rules: ConsensusRules,
    asset_ids: tuple[str, ...],
    symbols: tuple[str, ...],
) -> list[consensus_db.Consensus]:
    """The consensus of the assets asked (all when none), in asset id order."""
    return list(consensus_db.consensus(cache.read(conn, asset_ids, symbols).rows, rules))


def read_divergences(
    conn: Connection,
    cache: PricesCache,
    rules: ConsensusRules,
    min_spread_pct: float,
    limit: int,
) -> list[consensus_db.Consensus]:
    """The assets whose sources disagree by more than ``min_spread_pct``, widest first."""
    return consensus_db.divergences(cache.read(conn).rows, rules, min_spread_pct, limit)


def min_spread(name: str, value: float | None) -> float:
    """The minimum spread asked (1.0 when not given); a negative one is refused."""
    if value is None:
        return 1.0
    if not value >= 0:
        raise BadInput(f"{name} must be at least 0, got {value}")
    return value


@strawberry.type(description="One source's newest quote of an asset, as consensus weighs it.")
class SourceQuote:
    source: str
    value: float = strawberry.field(description="Price in USD.")
    timestamp: datetime
    deviation_pct: float = strawberry.field(
        description="(value - median) / median * 100, in percent."
    )
    outlier: bool = strawberry.field(
        description="True when |deviationPct| exceeds CONSENSUS_OUTLIER_PCT."
    )


@strawberry.type(
    description="An asset's consensus price: the median of each source's newest quote no "
    "older than CONSENSUS_MAX_AGE_SECONDS before the asset's newest quote."
)
class Consensus:
    asset: Asset
    median: float = strawberry.field(
        description="Median of the kept quotes (mean of the middle two)."
    )
    min: float
    max: float
    spread_pct: float = strawberry.field(
        description="(max - min) / median * 100, in percent; 0 with one quote."
    )
    quotes: list[SourceQuote] = strawberry.field(description="Kept quotes, by source name.")

    @classmethod
    def from_row(cls, row: consensus_db.Consensus) -> Consensus:
        return cls(
            asset=Asset(id=row.asset_id, symbol=row.symbol, name=row.name),
            median=row.median,
            min=row.min,
            max=row.max,
            spread_pct=row.spread_pct,
            quotes=[
                SourceQuote(
                    source=quote.source,
                    value=quote.value,
                    timestamp=quote.timestamp,
                    deviation_pct=quote.deviation_pct,
                    outlier=quote.outlier,
                )
                for quote in row.quotes
            ],
        )


async def resolve_consensus(
    info: Info[Context, None],
    asset: list[str] | None = None,
    symbol: list[str] | None = None,
) -> list[Consensus]:
    context = info.context
    wanted = filters.prices_request(asset=asset, symbol=symbol)
    rows = await run_db(
        context.read_engine,
        read_consensus,
        context.prices,
        consensus_rules(context.config),
        wanted.asset_ids,
        wanted.symbols,
    )
    return [Consensus.from_row(row) for row in rows]


async def resolve_divergences(
    info: Info[Context, None],
    min_spread_pct: float | None = 1.0,
    first: int | None = DIVERGENCES_DEFAULT,
) -> list[Consensus]:
    context = info.context
    config = context.config
    limit = filters.page_size(
        "first", first, default=DIVERGENCES_DEFAULT, maximum=config.max_page_size
    )
    rows = await run_db(
        context.read_engine,
        read_divergences,
        context.prices,
        consensus_rules(config),
        min_spread("minSpreadPct", min_spread_pct),
        limit,
    )
    return [Consensus.from_row(row) for row in rows]


consensus_field = strawberry.field(
    resolver=resolve_consensus,
    description="Per asset (all, or those named by `asset`/`symbol`): each source's newest "
    "quote no older than CONSENSUS_MAX_AGE_SECONDS before the asset's newest, their median "
    "and spread; quotes further than CONSENSUS_OUTLIER_PCT from the median are outliers.",
)
divergences_field = strawberry.field(
    resolver=resolve_divergences,
    description="Assets whose sources disagree by more than `minSpreadPct` percent "
    "(spreadPct), widest first; at most `first` (MAX_PAGE_SIZE).",
)


@strawberry.enum(description="Candle bucket length; buckets are aligned to UTC.")
class CandleInterval(enum.Enum):
    MINUTE_5 = "MINUTE_5"
    HOUR_1 = "HOUR_1"
    DAY_1 = "DAY_1"
    WEEK_1 = strawberry.enum_value("WEEK_1", description="Weeks start on Monday 00:00 UTC.")


@strawberry.type(description="Prices of one time bucket; buckets without samples are absent.")
class Candle:
    start: datetime = strawberry.field(description="Start of the bucket (UTC), inclusive.")
    open: float = strawberry.field(description="First sample by time (ties: source name).")
    high: float
    low: float
    close: float = strawberry.field(description="Last sample by time (ties: source name).")
    samples: int = strawberry.field(description="Records in the bucket.")
    sources: list[str] = strawberry.field(description="Sources of those records, by name.")


@dataclass(frozen=True, slots=True)
class CandlesRequest:
    """The checked arguments of ``candles`` (GraphQL) and ``GET /candles``."""

    filters: RecordFilters
    interval: Interval
    limit: int


def interval_named(name: str, text: str | None) -> Interval:
    """The interval called ``text`` (a name of ``db.candles.INTERVALS``)."""
    if text is None:
        raise BadInput(f"{name}: required, one of {', '.join(INTERVALS)}")
    found = INTERVALS.get(text)
    if found is None:
        raise BadInput(f"{name}: {text[:20]!r} is not one of {', '.join(INTERVALS)}")
    return found


def candles_request(
    *,
    asset: str | None,
    symbol: str | None,
    source: Iterable[str] | None,
    interval: Interval,
    since: datetime | None,
    until: datetime | None,
    first: int | None,
    names: tuple[str, str, str, str, str, str],
    config: AppConfig,
) -> CandlesRequest:
    """Check the arguments; ``names`` are asset, symbol, source, since, until and the size
    as the client spelled them. Exactly one of ``asset`` and ``symbol`` is needed."""
    if (asset is None) == (symbol is None):
        raise BadInput(f"give one of {names[0]} or {names[1]}")
    limit = filters.page_size(
        names[5],
        first,
        default=min(CANDLES_DEFAULT, config.max_page_size),
        maximum=config.max_page_size,
    )
    wanted = filters.record_filters(
        source=source,
        record_id=None,
        asset=[asset] if asset is not None else None,
        symbol=[symbol] if symbol is not None else None,
        since=since,
        until=until,
        names=(names[2], "record_id", names[0], names[1], names[3], names[4]),
    )
    if not wanted.asset_ids and not wanted.symbols:
        raise BadInput(f"{names[0] if asset is not None else names[1]}: empty value")
    return CandlesRequest(wanted, interval, limit)


def read_candles(conn: Connection, request: CandlesRequest) -> list[candles_db.Candle]:
    return candles_db.candles(conn, request.filters, request.interval, request.limit)


async def resolve_candles(
    info: Info[Context, None],
    *,
    asset: str | None = None,
    symbol: str | None = None,
    source: list[str] | None = None,
    interval: CandleInterval,
    since: datetime | None = None,
    until: datetime | None = None,
    first: int | None = CANDLES_DEFAULT,
) -> list[Candle]:
    request = candles_request(
        asset=asset,
        symbol=symbol,
        source=source,
        interval=INTERVALS[interval.value],
        since=since,
        until=until,
        first=first,
        names=("asset", "symbol", "source", "since", "until", "first"),
        config=info.context.config,
    )
    rows = await run_db(info.context.read_engine, read_candles, request)
    return [Candle(**row._asdict()) for row in rows]


candles_field = strawberry.field(
    resolver=resolve_candles,
    description="Open, high, low, close per UTC-aligned bucket of one asset (or symbol), "
    "oldest first from `since` (inclusive) to `until` (exclusive), at most `first` buckets "
    "(MAX_PAGE_SIZE); buckets without records are absent; `source` narrows the sources.",
)
