"""Ids for client caches: the same object has the same id under any arguments, in any
order and page size, and no two objects of a type share one."""

from __future__ import annotations

import base64
import json

from starlette.testclient import TestClient

from tests.gql.conftest import graphql
from tests.gql.store import Store

RECORD_IDS = """
query Ids($first: Int, $after: String, $order: SortOrder, $source: [String!]) {
  records(first: $first, after: $after, order: $order, source: $source) {
    pageInfo { hasNextPage endCursor }
    nodes { id source recordId timestamp }
  }
}
"""


def all_ids(client: TestClient, **variables: object) -> dict[tuple[str, str, str], str]:
    """Every record's id, by (source, recordId, timestamp), paging through the store."""
    found: dict[tuple[str, str, str], str] = {}
    after = None
    while True:
        body = graphql(client, RECORD_IDS, after=after, **variables)
        assert "errors" not in body, body
        page = body["data"]["records"]  # type: ignore[index]
        for node in page["nodes"]:
            key = (node["source"], node["recordId"], node["timestamp"])
            assert key not in found
            found[key] = node["id"]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def decoded(token: str) -> list[str]:
    parts: list[str] = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return parts


def test_record_ids_are_stable_and_unique(client: TestClient, store: Store) -> None:
    newest = all_ids(client, first=1000)
    assert len(newest) == len(store.records)
    assert len(set(newest.values())) == len(newest)  # unique
    # The same records read under other arguments, orders and page sizes: the same ids.
    assert all_ids(client, first=7, order="ASC") == newest
    assert all_ids(client, first=5, source=["csv"]) == {
        key: value for key, value in newest.items() if key[0] == "csv"
    }
    # The id names the record's primary key, the timestamp in UTC.
    row = store.newest_first(source="coingecko", record_id="bitcoin")[0]
    key = ("coingecko", "bitcoin", row["timestamp"].isoformat())
    assert decoded(newest[key]) == ["Record", *key]


PRICE_IDS = "query($symbol: [String!]) { latestPrices(symbol: $symbol) { id source asset { id } } }"
RUN_IDS = "{ etlRuns { id sources { id source } } }"


def test_price_and_source_run_ids(client: TestClient, store: Store) -> None:
    prices = graphql(client, PRICE_IDS)["data"]["latestPrices"]  # type: ignore[index]
    ids = {(price["asset"]["id"], price["source"]): price["id"] for price in prices}
    assert len(ids) == len(prices) == 8 and len(set(ids.values())) == 8
    assert decoded(ids[("bitcoin", "csv")]) == ["AssetPrice", "bitcoin", "csv"]
    filtered = graphql(client, PRICE_IDS, symbol=["btc"])["data"]["latestPrices"]  # type: ignore[index]
    assert {price["id"] for price in filtered} == {
        value for (asset, _), value in ids.items() if asset == "bitcoin"
    }
    runs = graphql(client, RUN_IDS)["data"]["etlRuns"]  # type: ignore[index]
    source_ids = [source["id"] for run in runs for source in run["sources"]]
    assert len(source_ids) == len(set(source_ids)) == 4 * len(store.run_ids)
    first = next(run for run in runs if run["id"] == store.run_ids[0])
    assert decoded(first["sources"][0]["id"]) == [
        "SourceRun",
        str(store.run_ids[0]),
        first["sources"][0]["source"],
    ]
