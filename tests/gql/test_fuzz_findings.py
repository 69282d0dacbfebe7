"""Regression tests for what fuzzing /openapi.json found (tests/reliability/test_fuzz_rest.py):
the service now does what the document says, and the document says what the service does."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from kasparro.gql.cursors import CURSOR_MAX_LENGTH
from tests.gql.conftest import graphql
from tests.gql.store import Store


def data_parameter(client: TestClient, name: str) -> dict[str, Any]:
    document = client.get("/openapi.json").json()
    [parameter] = [p for p in document["paths"]["/data"]["get"]["parameters"] if p["name"] == name]
    found: dict[str, Any] = parameter
    return found


def test_more_than_100_filter_values_are_refused_empty_ones_included(
    client: TestClient, store: Store
) -> None:
    # Found: 101 empty `symbol` values were dropped before counting and served a 200,
    # while the document says maxItems 100.
    assert data_parameter(client, "symbol")["schema"]["maxItems"] == 100
    response = client.get("/data", params=[("symbol", "")] * 101)
    assert response.status_code == 400
    assert response.json()["error"] == "symbol: at most 100 values per request"
    response = client.get("/data", params=[("symbol", "")] * 100 + [("limit", "1000")])
    assert response.status_code == 200
    assert len(response.json()["data"]) == len(store.records)  # empty values filter nothing
    body = graphql(
        client, "query($s: [String!]) { records(symbol: $s) { nodes { source } } }", s=[""] * 101
    )
    assert body["data"] is None
    assert body["errors"][0]["message"] == "symbol: at most 100 values per request"  # type: ignore[index]


def test_list_items_are_documented_without_commas(client: TestClient, store: Store) -> None:
    # A comma separates values (?symbol=btc,eth), so one item holding a comma is two values.
    pattern = data_parameter(client, "symbol")["schema"]["items"]["pattern"]
    assert re.fullmatch(pattern, "BTC") and not re.fullmatch(pattern, "BTC,ETH")
    both = client.get("/data", params={"symbol": "btc,eth", "limit": 1000}).json()["data"]
    assert {row["symbol"] for row in both} == {"BTC", "ETH"}


def test_the_cursor_is_documented_as_the_token_the_service_issues(
    client: TestClient, store: Store
) -> None:
    schema = data_parameter(client, "cursor")["schema"]
    assert schema["maxLength"] == CURSOR_MAX_LENGTH
    cursor = None
    for _ in range(3):  # every cursor the service hands out fits the documented pattern
        page = client.get("/data", params={"limit": 5, **({"cursor": cursor} if cursor else {})})
        cursor = page.json()["next_cursor"]
        assert isinstance(cursor, str) and re.fullmatch(schema["pattern"], cursor), cursor
    # A string of the right alphabet that this service did not issue is a 400, not a 500.
    response = client.get("/data", params={"cursor": "0"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid cursor: not a token issued by this service")


def test_etl_run_sources_null_is_documented(client: TestClient) -> None:
    # Found: {"sources": null} runs every source (as runEtl(sources: null) does), but the
    # document allowed only an array.
    document = client.get("/openapi.json").json()
    body = document["paths"]["/etl/run"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["sources"]["type"] == ["array", "null"]


def test_an_empty_source_is_documented_as_filtering_nothing(
    client: TestClient, store: Store
) -> None:
    # Found: `?source=` was served (an empty value filters nothing, like an empty `symbol`),
    # while the document allowed only the source names.
    assert "" in data_parameter(client, "source")["schema"]["items"]["enum"]
    everything = client.get("/data", params={"limit": "1000"}).json()["data"]
    response = client.get("/data", params={"source": "", "limit": "1000"})
    assert response.status_code == 200
    assert response.json()["data"] == everything
