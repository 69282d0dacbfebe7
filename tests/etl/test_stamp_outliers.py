"""No single item may move a source's incremental cutoff (issue 13, item 12).

An item stamped beyond the allowed clock skew (ETL_MAX_FUTURE_SECONDS) is a reject; one
stamped ahead within it, or a historical file's one row years ahead of the rest, moves only
its own coin's cutoff: newer rows of every other coin, and a new coin's, still load.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from kasparro.etl.config import EtlConfig
from kasparro.etl.pipeline import SourceSummary, run_etl
from tests.etl.conftest import FAST, by_source, make_config, query, record, write
from tests.support.upstream import GECKO, MARKETS, FakeUpstream, json_reply, sample

HEADER = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def stamped(items: list[dict[str, Any]], moment: datetime, **prices: float) -> str:
    """The items stamped ``moment``; ``prices`` sets some items' current_price by id."""
    return json.dumps(
        [
            {**item, "last_updated": iso(moment), "current_price": prices.get(item["id"], 1.0)}
            for item in items
        ]
    )


def serve_one_ahead(
    upstream: FakeUpstream, count: int, moment: datetime, index: int, ahead: datetime
) -> list[dict[str, Any]]:
    """Serve ``count`` recorded items stamped ``moment``, item ``index`` stamped ``ahead``;
    return the items."""
    items: list[dict[str, Any]] = json.loads(sample(GECKO))[:count]
    payload = json.loads(stamped(items, moment))
    payload[index]["last_updated"] = iso(ahead)
    upstream.serve(MARKETS, json_reply(json.dumps(payload)))
    return items


def with_a_new_coin(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [*items, {**items[0], "id": "brand-new-coin", "symbol": "bnc", "name": "Brand New"}]


def gecko(engine: Engine, config: EtlConfig) -> SourceSummary:
    return by_source(run_etl(engine, config, sources=["coingecko"], retry=FAST))["coingecko"]


def test_an_item_stamped_23_hours_ahead_is_rejected_and_moves_nothing(
    engine: Engine, upstream: FakeUpstream
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    items = serve_one_ahead(upstream, 20, now - timedelta(minutes=10), 7, now + timedelta(hours=23))
    config = make_config(upstream, lookback_seconds=3600)
    first = gecko(engine, config)
    assert (first.status, first.inserted, first.rejected) == ("success", 19, 1)
    [reject] = query(engine, "SELECT locator, reason FROM rejects")
    assert reject.locator == "page 1 item 7"
    assert "is in the future by more than the 300 s of clock skew allowed" in reject.reason
    assert first.checkpoint_after == now - timedelta(minutes=10)

    # The next snapshot, five minutes on, with a coin never seen before: all of it loads.
    upstream.serve(MARKETS, json_reply(stamped(with_a_new_coin(items), now - timedelta(minutes=5))))
    second = gecko(engine, config)
    assert (second.status, second.inserted, second.skipped) == ("success", 21, 0)
    assert len(record(engine, "coingecko", "brand-new-coin")) == 1


def test_an_item_ahead_within_the_skew_moves_only_its_own_cutoff(
    engine: Engine, upstream: FakeUpstream
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ahead = now + timedelta(minutes=4)  # allowed: within 300 s
    items = serve_one_ahead(upstream, 10, now - timedelta(hours=1), 3, ahead)
    config = make_config(upstream, lookback_seconds=60)
    first = gecko(engine, config)
    assert (first.inserted, first.rejected) == (10, 0)
    assert first.checkpoint_after == ahead

    # Half an hour later by every other coin's clock, with a new coin: only the row of the
    # coin that is stamped ahead of its own newest row by more than the lookback is skipped.
    later = stamped(with_a_new_coin(items), now - timedelta(minutes=30), bitcoin=2.0)
    upstream.serve(MARKETS, json_reply(later))
    second = gecko(engine, config)
    assert (second.inserted, second.skipped) == (10, 1)
    assert [row.timestamp for row in record(engine, "coingecko", items[3]["id"])] == [ahead]
    assert [row.value for row in record(engine, "coingecko", "bitcoin")] == [1.0, 2.0]
    assert len(record(engine, "coingecko", "brand-new-coin")) == 1


def test_one_csv_row_years_ahead_does_not_hide_the_rows_appended_after_it(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [
        f"{symbol},{name},{day},,,2021-07-{day:02d}T00:00:00Z\n"
        for day in range(1, 6)
        for symbol, name in (("BTC", "Bitcoin"), ("ETH", "Ethereum"))
    ]
    outlier = "DOGE,Dogecoin,0.2,,,2025-01-01T00:00:00Z\n"
    path = write(tmp_path / "history.csv", HEADER + "".join(rows) + outlier)
    config = make_config(csv_path=path)
    first = by_source(run_etl(engine, config, sources=["csv"], retry=FAST))["csv"]
    assert (first.inserted, first.checkpoint_after) == (11, datetime(2025, 1, 1, tzinfo=UTC))
    with path.open("a", encoding="utf-8") as handle:
        handle.write("BTC,Bitcoin,6,,,2021-07-06T00:00:00Z\n")
        handle.write("ETH,Ethereum,6,,,2021-07-06T00:00:00Z\n")
        handle.write("ADA,Cardano,0.5,,,2021-07-06T00:00:00Z\n")
    second = by_source(run_etl(engine, config, sources=["csv"], retry=FAST))["csv"]
    assert (second.rows_read, second.inserted, second.skipped) == (3, 3, 0)
    [count] = query(engine, "SELECT count(*) AS n FROM records")
    assert count.n == 14
