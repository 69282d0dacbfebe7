"""GraphQL data products: cross-source ``consensus`` and ``divergences``.

Thin adapters over ``db.consensus`` (which computes over the app's cached latest prices,
``db.latest_cache``); the REST twins in ``gql.products_rest`` call the same functions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry
from sqlalchemy import Connection
from strawberry.types import Info

from kasparro.db import consensus as consensus_db
from kasparro.db.consensus import ConsensusRules
from kasparro.db.latest_cache import PricesCache
from kasparro.gql import filters
from kasparro.gql.config import AppConfig
from kasparro.gql.context import Context
from kasparro.gql.dbcall import run_db
from kasparro.gql.errors import BadInput
from kasparro.gql.types import Asset

DIVERGENCES_DEFAULT = 100


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
