"""The compiled path for ``latestPrices``: the newest price per asset and source, answered
from the rows of ``db.queries.latest_prices`` with the bytes normal execution produces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text
from starlette.testclient import TestClient

from kasparro.db import latest
from kasparro.db.latest_cache import PricesCache
from kasparro.db.prune import prune
from kasparro.db.tables import asset_aliases, assets, records
from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import make_config, write
from tests.gql.compiled.conftest import Pair
from tests.gql.store import ASSETS, T0, Store

PRICES = """
query Prices($asset: [String!], $symbol: [String!]) {
  latestPrices(asset: $asset, symbol: $symbol) {
    __typename source recordId value timestamp
    asset { id symbol name __typename }
  }
}
"""


def newest(store: Store) -> list[dict[str, object]]:
    """The expected answer: the newest row of each (asset, source), by asset then source."""
    names = {asset_id: (symbol, name) for asset_id, symbol, name in ASSETS}
    best: dict[tuple[str, str], dict[str, object]] = {}
    for row in store.newest_first():
        best.setdefault((row["asset_id"], row["source"]), row)
    return [
        {
            "__typename": "AssetPrice",
            "source": row["source"],
            "recordId": row["record_id"],
            "value": row["value"],
            "timestamp": row["timestamp"].isoformat(),  # type: ignore[attr-defined]
            "asset": {
                "id": asset_id,
                "symbol": names[asset_id][0],
                "name": names[asset_id][1],
                "__typename": "Asset",
            },
        }
        for (asset_id, _), row in sorted(best.items())
    ]


def test_latest_prices_are_compiled_and_byte_identical(pair: Pair, store: Store) -> None:
    status, body = pair.send(PRICES, {})
    assert status == 200
    prices = json.loads(body)["data"]["latestPrices"]
    assert prices == newest(store)
    assert len(prices) == 8  # bitcoin from 4 sources, ethereum from 3, tether from 1
    assert prices[0]["timestamp"] == "2024-05-01T05:00:00+00:00"
    assert pair.served_compiled(PRICES, "Prices")
    # Again: answered by the view's shortcut, the same bytes.
    assert pair.send(PRICES, {}) == (status, body)
    assert pair.shortcut.answered == 1


def test_asset_and_symbol_filters_match_the_resolver(pair: Pair, store: Store) -> None:
    everything = newest(store)
    cases = [
        ({"asset": ["ethereum", " tether "]}, ["ethereum", "tether"]),
        ({"symbol": ["btc"]}, ["bitcoin"]),
        ({"asset": ["bitcoin"], "symbol": ["ETH"]}, []),
        ({"asset": [""]}, ["bitcoin", "ethereum", "tether"]),  # empty values are dropped
        ({"symbol": ["nope"]}, []),
    ]
    for variables, wanted in cases:
        status, body = pair.send(PRICES, variables)
        assert status == 200
        answer = json.loads(body)["data"]["latestPrices"]
        assert answer == [price for price in everything if price["asset"]["id"] in wanted]  # type: ignore[index]


def test_aliases_fragments_and_literal_arguments(pair: Pair) -> None:
    query = """
    { __typename
      p: latestPrices(symbol: ["usdt"]) { ...Price at: timestamp coin: asset { symbol } }
    }
    fragment Price on AssetPrice { ... on AssetPrice { value } asset { name } source }
    """
    status, body = pair.send(query, method="GET")
    assert status == 200
    assert json.loads(body) == {
        "data": {
            "__typename": "Query",
            "p": [
                {
                    "value": 1.0 + 5 + 7 / 10,
                    "asset": {"name": "Tether"},
                    "source": "coingecko",
                    "at": "2024-05-01T05:00:00+00:00",
                    "coin": {"symbol": "USDT"},
                }
            ],
        }
    }
    assert pair.served_compiled(query)


def test_bad_filters_get_the_normal_error_output(pair: Pair) -> None:
    for variables, message in (
        ({"asset": ["bit\u0000coin"]}, "asset: 'bit\\x00coin' is not a valid value"),
        ({"symbol": ["X"] * 101}, "symbol: at most 100 values per request"),
    ):
        status, body = pair.send(PRICES, variables)
        assert status == 200
        answer = json.loads(body)
        assert answer["data"] is None
        assert answer["errors"][0]["message"].startswith(message), answer
        assert answer["errors"][0]["path"] == ["latestPrices"]
    assert pair.served_compiled(PRICES, "Prices")


def test_a_database_failure_is_reported_like_normal_execution(pair: Pair, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE asset_aliases RENAME TO asset_aliases_away"))
    try:
        status, body = pair.send(PRICES, {})
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE asset_aliases_away RENAME TO asset_aliases"))
    assert status == 200
    assert json.loads(body)["errors"][0]["message"] == "Unexpected error."
    assert pair.served_compiled(PRICES, "Prices")


@pytest.mark.slow
def test_text_that_json_must_escape_is_encoded_like_normal_execution(
    pair: Pair, engine: Engine
) -> None:
    name = 'Ünïcødé "quoted" \\ back\tslash \u2028 \U0001f680'
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(assets), {"id": "odd/\u00e9", "symbol": "ÖDD", "name": name, "created_at": now}
        )
        conn.execute(
            insert(asset_aliases),
            {
                "source": "csv",
                "record_id": 'Ö"1',
                "asset_id": "odd/\u00e9",
                "method": "m",
                "created_at": now,
            },
        )
        conn.execute(
            insert(records),
            {
                "source": "csv",
                "record_id": 'Ö"1',
                "timestamp": T0,
                "asset_id": "odd/\u00e9",
                "symbol": "ÖDD",
                "name": name,
                "value": 1e-7,
                "market_cap": 1e22,
                "ingested_at": now,
            },
        )
        latest.fill(conn)
    queries = (
        '{ latestPrices(symbol: ["ödd"]) { recordId value asset { id name symbol } } }',
        '{ records(recordId: ["Ö\\"1"]) { nodes { recordId name symbol value marketCap } } }',
    )
    for query in queries:
        first = pair.send(query)
        assert pair.send(query) == first  # the second answer comes from the view's shortcut
        assert b"\\u00d6" in first[1] and b"\\ud83d\\ude80" in first[1] and b"1e-07" in first[1]
        assert pair.served_compiled(query)
    assert pair.shortcut.answered == 2
    answer = json.loads(pair.send(queries[0])[1])
    assert answer["data"]["latestPrices"] == [
        {
            "recordId": 'Ö"1',
            "value": 1e-7,
            "asset": {"id": "odd/\u00e9", "name": name, "symbol": "ÖDD"},
        }
    ]


def reads(*clients: TestClient) -> list[int]:
    """How often each app read the prices from the store instead of its kept answer."""
    caches: list[PricesCache] = [client.app.state.prices for client in clients]  # type: ignore[attr-defined]
    return [cache.reads for cache in caches]


def test_the_kept_answer_follows_every_load_and_prune(
    pair: Pair, store: Store, engine: Engine, tmp_path: Path
) -> None:
    """Both apps keep the answer while the store stands still, and see a load and a prune
    committed by another process (the ETL and retention on their own engine) at once."""
    first = pair.send(PRICES, {})
    assert json.loads(first[1])["data"]["latestPrices"] == newest(store)
    assert pair.send(PRICES, {}) == first
    assert pair.send(PRICES, {"symbol": ["eth"]})[0] == 200  # filtered from the kept rows
    assert reads(pair.compiled, pair.normal) == [1, 1]

    late = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"
    late += "BTC,Bitcoin,70000.5,,,2024-05-01T10:00:00Z\n"
    run_etl(engine, make_config(csv_path=write(tmp_path / "late.csv", late)), sources=["csv"])
    prices = json.loads(pair.send(PRICES, {})[1])["data"]["latestPrices"]
    assert reads(pair.compiled, pair.normal) == [2, 2]
    loaded = {"recordId": "BTC", "value": 70000.5, "timestamp": "2024-05-01T10:00:00+00:00"}
    expected = newest(store)
    for price in expected:
        if price["source"] == "csv" and price["asset"]["id"] == "bitcoin":  # type: ignore[index]
            price.update(loaded)
    assert prices == expected

    # Retention drops every record before 09:00: only the loaded price is left.
    assert prune(engine, T0 + timedelta(hours=9), tables=("records",)) == {"records": 48}
    prices = json.loads(pair.send(PRICES, {})[1])["data"]["latestPrices"]
    assert [(p["asset"]["id"], p["source"], p["value"]) for p in prices] == [
        ("bitcoin", "csv", 70000.5)
    ]
    assert reads(pair.compiled, pair.normal) == [3, 3]
