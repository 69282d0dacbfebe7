"""gzip above COMPRESS_MIN_BYTES, and ETag / 304 on GET queries tied to the latest-prices
counter."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from kasparro.db import latest
from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.gql.store import Store
from tests.support.servers import serve_in_thread

PAGE = "{ records(first: 1000) { nodes { source recordId value timestamp symbol name } } }"
PRICES = "{ latestPrices { source value asset { id } } }"


@pytest.fixture(params=["compiled", "normal"])
def client(request: pytest.FixtureRequest, database_url: str, store: Store) -> Iterator[TestClient]:
    compiled = "true" if request.param == "compiled" else "false"
    config = make_settings(database_url, GRAPHQL_COMPILED=compiled).app_config()
    with TestClient(create_app(config)) as client:
        yield client


def test_large_answers_are_gzipped_small_ones_not(database_url: str, store: Store) -> None:
    config = make_settings(database_url).app_config()
    with serve_in_thread(create_app(config)) as base, httpx.Client(base_url=base) as http:
        raw = http.post("/graphql", json={"query": PAGE}, headers={"accept-encoding": "identity"})
        assert "content-encoding" not in raw.headers
        response = http.stream(
            "POST", "/graphql", json={"query": PAGE}, headers={"accept-encoding": "gzip"}
        )
        with response as streamed:
            assert streamed.headers["content-encoding"] == "gzip"
            assert "Accept-Encoding" in streamed.headers["vary"]
            wire = b"".join(streamed.iter_raw())
        assert len(wire) < len(raw.content) / 3
        assert json.loads(gzip.decompress(wire)) == raw.json()
        assert len(raw.json()["data"]["records"]["nodes"]) == len(store.records)
        small = http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"accept-encoding": "gzip"}
        )
        assert "content-encoding" not in small.headers
    off = make_settings(database_url, COMPRESS_MIN_BYTES="0").app_config()
    with TestClient(create_app(off)) as client:
        response = client.post(
            "/graphql", json={"query": PAGE}, headers={"accept-encoding": "gzip"}
        )
        assert "content-encoding" not in response.headers


def test_a_latest_prices_get_is_revalidated_by_etag(client: TestClient, engine: Engine) -> None:
    first = client.get("/graphql", params={"query": PRICES})
    assert first.status_code == 200
    tag = first.headers["etag"]
    assert tag.startswith('W/"') and tag.endswith('.j"')
    assert first.headers["cache-control"] == "public, max-age=0, must-revalidate"
    assert "Accept" in first.headers["vary"]
    prices = first.json()["data"]["latestPrices"]
    assert prices
    again = client.get("/graphql", params={"query": PRICES}, headers={"if-none-match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    # Another media type is another representation.
    strict = client.get(
        "/graphql",
        params={"query": PRICES},
        headers={"if-none-match": tag, "accept": "application/graphql-response+json"},
    )
    assert strict.status_code == 200
    assert strict.headers["etag"].endswith('.g"')
    # A change of the latest prices moves the counter: the old tag is stale.
    with engine.begin() as conn:
        latest.bump(conn)
    changed = client.get("/graphql", params={"query": PRICES}, headers={"if-none-match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    assert changed.json()["data"]["latestPrices"] == prices


def test_what_gets_no_tag(client: TestClient) -> None:
    for query in (
        "{ records(first: 1) { nodes { source } } }",  # a late row does not move the counter
        "{ stats { recordsTotal } }",
        "{ latestPrices { source } stats { recordsTotal } }",
        "{ ...F } fragment F on Query { latestPrices { source } }",
        '{ latestPrices(symbol: ["btc"]) { nope } }',  # errors
    ):
        response = client.get("/graphql", params={"query": query})
        assert "etag" not in response.headers, query
    posted = client.post("/graphql", json={"query": PRICES})
    assert "etag" not in posted.headers
    # Introspection depends on nothing that changes.
    typename = client.get("/graphql", params={"query": "{ __typename }"})
    assert typename.headers["etag"]
