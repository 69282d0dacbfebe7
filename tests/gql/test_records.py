"""GraphQL ``records`` and REST ``/data`` over a store of known rows: filters, orders,
paging, and agreement between the two interfaces."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.gql.conftest import graphql
from tests.gql.store import HOURS, T0, Store

RECORDS = """
query Records($first: Int, $after: String, $order: SortOrder, $source: [String!],
              $recordId: [String!], $asset: [String!], $symbol: [String!],
              $since: DateTime, $until: DateTime) {
  records(first: $first, after: $after, order: $order, source: $source, recordId: $recordId,
          asset: $asset, symbol: $symbol, since: $since, until: $until) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { source recordId value timestamp symbol name marketCap volume24h
                          asset { id symbol name } } }
  }
}
"""


def gql_keys(client: TestClient, **variables: Any) -> list[tuple[str, str, str]]:
    """Every row for ``variables``, paging with endCursor; keys in the order served."""
    keys: list[tuple[str, str, str]] = []
    after = None
    while True:
        body = graphql(client, RECORDS, after=after, **variables)
        assert "errors" not in body, body
        page = body["data"]["records"]  # type: ignore[index]
        keys += [
            (edge["node"]["timestamp"], edge["node"]["source"], edge["node"]["recordId"])
            for edge in page["edges"]
        ]
        last_cursor = page["edges"][-1]["cursor"] if page["edges"] else None
        assert page["pageInfo"]["endCursor"] == last_cursor
        if not page["pageInfo"]["hasNextPage"]:
            return keys
        after = page["pageInfo"]["endCursor"]


def rest_keys(client: TestClient, **params: Any) -> list[tuple[str, str, str]]:
    keys: list[tuple[str, str, str]] = []
    cursor = None
    while True:
        response = client.get("/data", params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        keys += [(row["timestamp"], row["source"], row["record_id"]) for row in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return keys


@pytest.mark.parametrize("size", [1, 5, 7, 48, 1000])
def test_paging_returns_every_row_exactly_once_in_both_orders(
    client: TestClient, store: Store, size: int
) -> None:
    expected = store.keys(store.newest_first())
    assert gql_keys(client, first=size) == expected
    assert gql_keys(client, first=size, order="ASC") == expected[::-1]
    assert rest_keys(client, limit=size) == expected
    assert rest_keys(client, limit=size, order="asc") == expected[::-1]


@pytest.mark.parametrize(
    ("variables", "params", "where"),
    [
        ({"source": ["CSV"]}, {"source": "csv"}, {"source": "csv"}),
        ({"recordId": ["bitcoin"]}, {"record_id": "bitcoin"}, {"record_id": "bitcoin"}),
        ({"asset": ["ethereum"]}, {"asset": "ethereum"}, {"asset_id": "ethereum"}),
        ({"symbol": ["usdt"]}, {"symbol": "uSdT"}, {"symbol": "USDT"}),
    ],
)
def test_single_filters(
    client: TestClient,
    store: Store,
    variables: dict[str, Any],
    params: dict[str, Any],
    where: dict[str, Any],
) -> None:
    expected = store.keys(store.newest_first(**where))
    assert expected
    assert gql_keys(client, first=4, **variables) == expected
    assert rest_keys(client, limit=4, **params) == expected


def test_combined_filters_and_time_window(client: TestClient, store: Store) -> None:
    since = T0.replace(hour=2)
    until = T0.replace(hour=4)
    expected = [
        row
        for row in store.newest_first()
        if row["source"] in ("coingecko", "csv")
        and row["symbol"] in ("BTC", "ETH")
        and since <= row["timestamp"] < until
    ]
    keys = store.keys(expected)
    assert len(keys) == 2 * 2 * 2  # two sources, two symbols, hours 2 and 3
    assert (
        gql_keys(
            client,
            first=3,
            source=["coingecko", "csv"],
            symbol=["btc", "ETH"],
            since=since.isoformat(),
            until=until.isoformat(),
        )
        == keys
    )
    # REST: commas and repeated parameters, an unencoded '+' offset, and a naive time as UTC
    params = [
        ("source", "coingecko,csv"),
        ("symbol", "btc"),
        ("symbol", "eth"),
        ("since", "2024-05-01T02:00:00"),
        ("until", "2024-05-01T04:00:00+00:00"),
        ("limit", "3"),
    ]
    rows: list[tuple[str, str, str]] = []
    cursor: str | None = None
    while True:
        extra: list[tuple[str, str]] = [("cursor", cursor)] if cursor else []
        body = client.get("/data", params=params + extra).json()
        rows += [(r["timestamp"], r["source"], r["record_id"]) for r in body["data"]]
        if (cursor := body["next_cursor"]) is None:
            break
    assert rows == keys
    raw = client.get("/data?source=csv&since=2024-05-01T05:00:00+00:00").json()
    assert [r["timestamp"] for r in raw["data"]] == ["2024-05-01T05:00:00+00:00"] * 2
    lower = client.get("/data?source=csv&since=2024-05-01t05:00:00z").json()
    assert lower["data"] == raw["data"]


def test_graphql_and_rest_return_the_same_rows(client: TestClient, store: Store) -> None:
    body = graphql(client, RECORDS, first=100, symbol=["btc"])
    nodes = [edge["node"] for edge in body["data"]["records"]["edges"]]  # type: ignore[index]
    rest = client.get("/data", params={"symbol": "btc", "limit": 100}).json()["data"]
    assert len(nodes) == len(rest) == 4 * HOURS
    for node, row in zip(nodes, rest, strict=True):
        assert row == {
            "source": node["source"],
            "record_id": node["recordId"],
            "value": node["value"],
            "timestamp": node["timestamp"],
            "asset_id": node["asset"]["id"],
            "symbol": node["symbol"],
            "name": node["name"],
            "market_cap": node["marketCap"],
            "volume_24h": node["volume24h"],
        }
        assert node["asset"] == {"id": "bitcoin", "symbol": "BTC", "name": "Bitcoin"}


def test_total_count_and_page_info(client: TestClient, store: Store) -> None:
    body = graphql(
        client,
        '{ records(first: 2, source: ["csv2"]) { totalCount nodes { recordId } '
        "pageInfo { hasNextPage } } }",
    )
    assert body["data"] == {
        "records": {
            "totalCount": HOURS,
            "nodes": [{"recordId": "BTC"}, {"recordId": "BTC"}],
            "pageInfo": {"hasNextPage": True},
        }
    }
    empty = graphql(client, '{ records(symbol: ["NOPE"]) { totalCount nodes { source } } }')
    assert empty["data"] == {"records": {"totalCount": 0, "nodes": []}}


def test_default_page_size_comes_from_settings(database_url: str, store: Store) -> None:
    config = make_settings(database_url, DEFAULT_PAGE_SIZE="7").app_config()
    with TestClient(create_app(config)) as client:
        # Left out or null, GraphQL's `first` (or `last`) is the setting, as REST's limit.
        body = graphql(client, "{ records(first: null) { nodes { source } } }")
        assert len(body["data"]["records"]["nodes"]) == 7  # type: ignore[index]
        assert len(client.get("/data").json()["data"]) == 7
        body = graphql(client, "{ records { nodes { source } } }")
        assert len(body["data"]["records"]["nodes"]) == 7  # type: ignore[index]
        body = graphql(client, "{ records(last: null, order: ASC) { nodes { timestamp } } }")
        assert len(body["data"]["records"]["nodes"]) == 7  # type: ignore[index]
        assert len(store.records) > 7
