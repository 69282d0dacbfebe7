"""GRAPHQL_OFFLOAD_COST: costly queries execute on an event loop of their own, in a worker
thread, and answer exactly as they would on the application's loop (``gql.offload``).

How long /health waits meanwhile is measured by ``bench/bench_validation.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.gql.adversarial import FULL_PAGE
from tests.gql.compiled.conftest import graphql_app
from tests.gql.conftest import graphql
from tests.gql.store import Store


@pytest.fixture
def unloaded(database_url: str, store: Store) -> Iterator[TestClient]:
    """The app with offloading off (no query is that costly)."""
    settings = make_settings(database_url, GRAPHQL_OFFLOAD_COST="1000000000")
    with TestClient(create_app(settings.app_config())) as client:
        yield client


def test_a_costly_query_answers_the_same_from_a_worker_thread(
    client: TestClient, unloaded: TestClient, store: Store
) -> None:
    offloaded = graphql_app(client).offload
    answer = client.post("/graphql", json={"query": FULL_PAGE})
    assert offloaded.offloaded == 1
    expected = unloaded.post("/graphql", json={"query": FULL_PAGE})
    assert graphql_app(unloaded).offload.offloaded == 0
    assert answer.status_code == expected.status_code == 200
    assert answer.content == expected.content
    page = answer.json()["data"]["records"]
    assert len(page["nodes"]) == len(store.records) == page["totalCount"]
    # DataLoaders (Record.asset, Asset.sources) ran on the worker's loop.
    assert {node["asset"]["id"] for node in page["nodes"]} == {"bitcoin", "ethereum", "tether"}


def test_what_stays_on_the_loop(database_url: str, store: Store) -> None:
    settings = make_settings(database_url, GRAPHQL_OFFLOAD_COST="0")  # every valid query
    with TestClient(create_app(settings.app_config())) as client:
        offload = graphql_app(client).offload
        assert graphql(client, "{ health { db } }")["data"] == {"health": {"db": "ok"}}
        assert offload.offloaded == 1
        # A mutation waits on the ETL scheduler, which lives on the application's loop.
        body = graphql(client, "mutation { runEtl { id } }")
        assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}  # type: ignore[index]
        # Refused documents are answered at once.
        graphql(client, "{ nope }")
        graphql(client, "{ records(first: 1000) { nodes { " + "a: source " * 60 + "} } }")
        response = client.post(
            "/graphql", json={"query": "{ health { db } }", "operationName": "X"}
        )
        assert response.status_code == 200  # a GraphQL request error, in application/json
        assert response.json()["errors"][0]["message"] == "Unknown operation named 'X'."
        assert offload.offloaded == 1
        # A bad argument in a costly query is reported the same from the worker.
        body = graphql(client, '{ records(first: 1000, source: ["nope"]) { nodes { source } } }')
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}  # type: ignore[index]
        assert offload.offloaded == 2


def test_a_document_the_cache_does_not_keep_runs_on_the_loop(
    database_url: str, store: Store
) -> None:
    # The worker takes the parsed document from the cache; without it, the loop runs it.
    settings = make_settings(database_url, GRAPHQL_CACHE_BYTES="0")
    with TestClient(create_app(settings.app_config())) as client:
        body = graphql(client, FULL_PAGE)
        assert len(body["data"]["records"]["nodes"]) == len(store.records)  # type: ignore[index]
        assert graphql_app(client).offload.offloaded == 0
