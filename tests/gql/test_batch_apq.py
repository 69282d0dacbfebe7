"""Batches (JSON array bodies) and automatic persisted queries (Apollo's APQ protocol)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.gql.compiled.conftest import graphql_app
from tests.gql.store import Store

PAGE = "query Page($n: Int) { records(first: $n) { nodes { recordId } } }"
COUNT = "{ records { totalCount } }"


def client_with(database_url: str, **env: str) -> TestClient:
    return TestClient(create_app(make_settings(database_url, **env).app_config()))


@pytest.fixture(params=["compiled", "normal"])
def client(request: pytest.FixtureRequest, database_url: str, store: Store) -> Iterator[TestClient]:
    compiled = "true" if request.param == "compiled" else "false"
    with client_with(database_url, GRAPHQL_COMPILED=compiled) as client:
        yield client


def persisted(query: str | None, digest: str) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if query is not None:
        body["query"] = query
    return body


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def test_a_batch_answers_each_operation_on_its_own(client: TestClient, store: Store) -> None:
    batch = [
        {"query": PAGE, "variables": {"n": 2}, "operationName": "Page"},
        {"query": COUNT},
        5,
        {"query": "{ nope }"},
        {"query": "query A { __typename } query B { __typename }"},
        {"query": '{ records(source: ["nope"]) { totalCount } }'},
        {"query": PAGE, "variables": {"n": 1}},
    ]
    for _ in range(2):  # the second time, the compiled path has the plans
        response = client.post("/graphql", json=batch)
        assert response.status_code == 200
        answers = response.json()
        assert len(answers) == len(batch)
        newest = [row["record_id"] for row in store.newest_first()]
        assert answers[0] == {"data": {"records": {"nodes": [{"recordId": r} for r in newest[:2]]}}}
        assert answers[1] == {"data": {"records": {"totalCount": len(store.records)}}}
        assert (
            answers[2]["errors"][0]["message"]
            == "batch item 2 is a JSON number; each item is an object"
        )
        assert answers[3]["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "data" not in answers[3]
        assert answers[4]["errors"][0]["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
        assert answers[5]["data"] is None
        assert answers[5]["errors"][0]["path"] == ["records"]
        assert answers[6] == {"data": {"records": {"nodes": [{"recordId": newest[0]}]}}}


def test_limits_apply_to_the_batch_as_a_whole(database_url: str, store: Store) -> None:
    with client_with(database_url, MAX_QUERY_COST="100") as client:
        one = {"query": "{ records(first: 60) { nodes { source } } }"}
        assert "data" in client.post("/graphql", json=[one]).json()[0]
        response = client.post("/graphql", json=[one, one])
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert error["message"].startswith("batch too costly: its operations' estimated cost is")
    with client_with(database_url) as client:
        aliased = {"query": "{ " + " ".join(f"a{n}: __typename" for n in range(20)) + " }"}
        assert "data" in client.post("/graphql", json=[aliased]).json()[0]
        response = client.post("/graphql", json=[aliased, aliased])
        assert response.status_code == 400
        assert response.json()["errors"][0]["message"] == (
            "batch: 40 aliases found. Allowed: 30 (MAX_QUERY_ALIASES applies to a batch as a whole)"
        )
        # A batch of persisted queries counts the queries they name.
        digest = sha256(aliased["query"])
        client.post("/graphql", json=persisted(aliased["query"], digest))
        response = client.post("/graphql", json=[persisted(None, digest)] * 2)
        assert response.status_code == 400


def test_batching_can_be_turned_off(database_url: str) -> None:
    with client_with(database_url, MAX_BATCH="0") as client:
        response = client.post("/graphql", json=[{"query": COUNT}])
        assert response.status_code == 400
        assert "batching is off" in response.json()["errors"][0]["message"]


def test_a_persisted_query_is_stored_by_its_hash(client: TestClient, store: Store) -> None:
    digest = sha256(PAGE)
    first = client.post("/graphql", json=persisted(None, digest) | {"variables": {"n": 1}})
    assert first.status_code == 200
    assert first.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    # With application/graphql-response+json it is a 400, as any request error.
    strict = client.post(
        "/graphql",
        json=persisted(None, digest),
        headers={"accept": "application/graphql-response+json"},
    )
    assert strict.status_code == 400
    sent = client.post("/graphql", json=persisted(PAGE, digest) | {"variables": {"n": 1}})
    newest = store.newest_first()[0]["record_id"]
    expected = {"data": {"records": {"nodes": [{"recordId": newest}]}}}
    assert sent.json() == expected
    again = client.post("/graphql", json=persisted(None, digest.upper()) | {"variables": {"n": 1}})
    assert again.json() == expected
    # Over GET, as Apollo's useGETForHashedQueries sends it.
    params = {
        "extensions": json.dumps(persisted(None, digest)["extensions"]),
        "variables": '{"n": 1}',
        "operationName": "Page",
    }
    assert client.get("/graphql", params=params).json() == expected


def test_a_hash_must_be_the_querys(client: TestClient) -> None:
    response = client.post("/graphql", json=persisted(COUNT, sha256(PAGE)))
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert sha256(COUNT) in error["message"]
    # Nothing was stored under the wrong hash.
    stored = client.post("/graphql", json=persisted(None, sha256(PAGE)))
    assert stored.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    for bad in (
        {"persistedQuery": {"version": 2, "sha256Hash": sha256(COUNT)}},
        {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}},
        {"persistedQuery": {"version": 1, "sha256Hash": 5}},
        {"persistedQuery": "yes"},
    ):
        response = client.post("/graphql", json={"query": COUNT, "extensions": bad})
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_the_store_is_bounded(database_url: str) -> None:
    with client_with(database_url, APQ_CACHE_BYTES="40000") as client:
        store = graphql_app(client).persisted.cache
        queries = [f"{{ a{n}: __typename }}" for n in range(60)]
        for query in queries:
            assert "data" in client.post("/graphql", json=persisted(query, sha256(query))).json()
        assert 0 < store.bytes <= 40000
        assert len(store) < len(queries)
        latest = client.post("/graphql", json=persisted(None, sha256(queries[-1])))
        assert latest.json() == {"data": {"a59": "Query"}}
        oldest = client.post("/graphql", json=persisted(None, sha256(queries[0])))
        assert oldest.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    with client_with(database_url, APQ_CACHE_BYTES="0") as client:
        client.post("/graphql", json=persisted(COUNT, sha256(COUNT)))
        off = client.post("/graphql", json=persisted(None, sha256(COUNT)))
        assert off.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
