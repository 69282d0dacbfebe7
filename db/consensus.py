"""Cross-source consensus: each asset's newest quote per source, their median and spread.

Built on ``db.queries.latest_prices`` (the newest record per asset and source, read from
``latest_records``), so its cost grows with the number of assets and sources, never with
the number of records; the arithmetic is done here, in one pass per asset:

- a source's quote is kept when it is no older than ``max_age`` before the asset's newest
  quote; a quote of value 0 is no price and is left out (the median must divide);
- ``median`` of the kept values (the mean of the middle two when their number is even),
  ``spread_pct = (max - min) / median * 100`` (0 with one quote);
- per quote ``deviation_pct = (value - median) / median * 100``, an ``outlier`` when its
  absolute value exceeds ``outlier_pct``.

``divergences`` are the assets whose spread exceeds a minimum, widest first (ties by asset
id), at most ``limit`` of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from statistics import median
from typing import NamedTuple

from kasparro.db.queries import LatestPrice


@dataclass(frozen=True, slots=True)
class ConsensusRules:
    """Which quotes count and which are outliers (CONSENSUS_MAX_AGE_SECONDS,
    CONSENSUS_OUTLIER_PCT)."""

    max_age: timedelta = timedelta(days=1)
    outlier_pct: float = 2.0


class Quote(NamedTuple):
    """One source's kept quote of an asset and how far it lies from the median."""

    source: str
    value: float
    timestamp: datetime
    deviation_pct: float
    outlier: bool


class Consensus(NamedTuple):
    """One asset's consensus over its sources' newest quotes (sources in name order)."""

    asset_id: str
    symbol: str
    name: str
    median: float
    min: float
    max: float
    spread_pct: float
    quotes: list[Quote]


def _of_asset(prices: Sequence[LatestPrice], rules: ConsensusRules) -> Consensus | None:
    quoted = [price for price in prices if price.value != 0]
    if not quoted:
        return None
    oldest = max(price.timestamp for price in quoted) - rules.max_age
    kept = [price for price in quoted if price.timestamp >= oldest]
    middle = median(price.value for price in kept)
    low = min(price.value for price in kept)
    high = max(price.value for price in kept)
    quotes = []
    for price in kept:
        deviation = (price.value - middle) / middle * 100
        quotes.append(
            Quote(
                price.source,
                price.value,
                price.timestamp,
                deviation,
                abs(deviation) > rules.outlier_pct,
            )
        )
    first = kept[0]
    return Consensus(
        first.asset_id,
        first.asset_symbol,
        first.asset_name,
        middle,
        low,
        high,
        (high - low) / middle * 100,
        quotes,
    )


def consensus(prices: Iterable[LatestPrice], rules: ConsensusRules) -> Iterator[Consensus]:
    """The consensus of every asset in ``prices`` (``latest_prices`` rows: ordered by asset
    id, then source), in asset order; an asset with no nonzero quote is left out."""
    for _, rows in groupby(prices, key=lambda price: price.asset_id):
        found = _of_asset(list(rows), rules)
        if found is not None:
            yield found


def divergences(
    prices: Iterable[LatestPrice], rules: ConsensusRules, min_spread_pct: float, limit: int
) -> list[Consensus]:
    """Up to ``limit`` assets whose spread exceeds ``min_spread_pct``, widest first."""
    wide = [found for found in consensus(prices, rules) if found.spread_pct > min_spread_pct]
    wide.sort(key=lambda found: (-found.spread_pct, found.asset_id))
    return wide[:limit]
