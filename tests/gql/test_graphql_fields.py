"""Every GraphQL field other than ``records`` against the known store, and batching."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from starlette.testclient import TestClient

from tests.gql.conftest import graphql
from tests.gql.store import HOURS, Store

BTC_SOURCES = ["coingecko", "coinpaprika", "csv", "csv2"]


def test_assets(client: TestClient, store: Store) -> None:
    body = graphql(client, "{ assets { id symbol name sources } }")
    assert body["data"] == {
        "assets": [
            {"id": "bitcoin", "symbol": "BTC", "name": "Bitcoin", "sources": BTC_SOURCES},
            {
                "id": "ethereum",
                "symbol": "ETH",
                "name": "Ethereum",
                "sources": ["coingecko", "coinpaprika", "csv"],
            },
            {"id": "tether", "symbol": "USDT", "name": "Tether", "sources": ["coingecko"]},
        ]
    }
    one = graphql(client, '{ assets(symbol: "eth") { id } }')
    assert one["data"] == {"assets": [{"id": "ethereum"}]}
    first = graphql(client, "{ assets(first: 1) { id } }")
    assert first["data"] == {"assets": [{"id": "bitcoin"}]}


def test_latest_prices(client: TestClient, store: Store) -> None:
    body = graphql(
        client,
        '{ latestPrices(asset: ["bitcoin"]) { asset { id symbol sources } source recordId '
        "value timestamp } }",
    )
    prices = body["data"]["latestPrices"]  # type: ignore[index]
    newest = {
        row["source"]: row
        for row in store.newest_first(asset_id="bitcoin")
        if row["timestamp"].hour == HOURS - 1
    }
    assert [p["source"] for p in prices] == BTC_SOURCES
    for price in prices:
        row = newest[price["source"]]
        assert price == {
            "asset": {"id": "bitcoin", "symbol": "BTC", "sources": BTC_SOURCES},
            "source": row["source"],
            "recordId": row["record_id"],
            "value": row["value"],
            "timestamp": row["timestamp"].isoformat(),
        }
    by_symbol = graphql(client, '{ latestPrices(symbol: ["usdt", "eth"]) { asset { id } } }')
    assets = [p["asset"]["id"] for p in by_symbol["data"]["latestPrices"]]  # type: ignore[index]
    assert assets == ["ethereum"] * 3 + ["tether"]
    everything = graphql(client, "{ latestPrices { source } }")
    assert len(everything["data"]["latestPrices"]) == 8  # type: ignore[index]


def test_etl_runs(client: TestClient, store: Store) -> None:
    body = graphql(
        client,
        "{ etlRuns { id status trigger startedAt finishedAt durationMs error "
        "sources { source status rowsRead inserted updated unchanged skipped rejected error "
        "checkpointBefore checkpointAfter } } }",
    )
    runs = body["data"]["etlRuns"]  # type: ignore[index]
    assert [run["status"] for run in runs] == ["SKIPPED", "SUCCESS", "PARTIAL"]
    assert runs[0]["sources"] == [] and runs[0]["durationMs"] is None
    partial = runs[2]
    assert partial["id"] == store.run_ids[0]
    assert partial["durationMs"] == 2500
    assert partial["startedAt"] == "2024-05-01T00:00:00+00:00"
    failed = [s for s in partial["sources"] if s["status"] == "FAILED"]
    assert failed == [
        {
            "source": "coingecko",
            "status": "FAILED",
            "rowsRead": 10,
            "inserted": 0,
            "updated": 1,
            "unchanged": 2,
            "skipped": 0,
            "rejected": 1,
            "error": "HTTP 500",
            "checkpointBefore": None,
            "checkpointAfter": None,
        }
    ]
    only = graphql(client, "{ etlRuns(status: PARTIAL, first: 5) { id } }")
    assert only["data"] == {"etlRuns": [{"id": store.run_ids[0]}]}
    assert graphql(client, "{ etlRuns(first: 1) { id } }")["data"] == {"etlRuns": [{"id": 3}]}


def test_stats(client: TestClient, store: Store) -> None:
    body = graphql(
        client,
        "{ stats { recordsTotal recordsProcessed runsTotal assetsTotal sources "
        "rows { rowsRead inserted updated unchanged skipped rejected } "
        "lastRun { id status sources { source } } } }",
    )
    assert body["data"] == {
        "stats": {
            "recordsTotal": len(store.records),
            "recordsProcessed": 50,
            "runsTotal": 3,
            "assetsTotal": 3,
            "sources": BTC_SOURCES,
            "rows": {
                "rowsRead": 80,
                "inserted": 42,
                "updated": 8,
                "unchanged": 16,
                "skipped": 0,
                "rejected": 8,
            },
            "lastRun": {
                "id": store.run_ids[1],
                "status": "SUCCESS",
                "sources": [{"source": s} for s in ("coinpaprika", "coingecko", "csv", "csv2")],
            },
        }
    }


@pytest.fixture
def statements(engine: Engine, client: TestClient) -> Iterator[list[str]]:
    """SQL statements the app's engine runs while the test body runs."""
    app_engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(app_engine, "before_cursor_execute", record)
    yield seen
    event.remove(app_engine, "before_cursor_execute", record)


def test_loaders_batch_one_query_per_level(
    client: TestClient, store: Store, statements: list[str]
) -> None:
    body = graphql(
        client,
        "{ records(first: 48) { nodes { source asset { id sources } } } "
        "etlRuns { sources { source } } }",
    )
    assert len(body["data"]["records"]["nodes"]) == 48  # type: ignore[index]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 5, selects  # page, assets, asset sources, runs, run sources
    assert not any("count(" in s.lower() for s in selects)  # totalCount not asked


def test_each_request_gets_fresh_loaders(client: TestClient, store: Store, engine: Engine) -> None:
    query = '{ records(first: 1, asset: ["tether"]) { nodes { asset { name } } } }'
    assert graphql(client, query)["data"]["records"]["nodes"][0]["asset"]["name"] == "Tether"  # type: ignore[index]
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE assets SET name = 'Tether USD' WHERE id = 'tether'")
    assert graphql(client, query)["data"]["records"]["nodes"][0]["asset"]["name"] == "Tether USD"  # type: ignore[index]
