"""Hostile and malformed GraphQL is refused with clear errors; switches work."""

from __future__ import annotations

import pytest
from graphql import get_introspection_query
from sqlalchemy import Engine, insert
from starlette.testclient import TestClient

from kasparro.db.tables import etl_runs
from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.gql.conftest import graphql
from tests.gql.store import T0, Store


def messages(body: dict[str, object]) -> list[str]:
    errors = body.get("errors")
    assert isinstance(errors, list), body
    return [error["message"] for error in errors]


def test_page_sizes_over_the_cap_and_below_zero(client: TestClient) -> None:
    body = graphql(client, "{ records(first: 1000000) { nodes { source } } }")
    assert body["data"] is None
    assert messages(body) == ["first must be at most 1000 (MAX_PAGE_SIZE), got 1000000"]
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}  # type: ignore[index]
    body = graphql(client, "{ records(first: -1) { nodes { source } } }")
    assert messages(body) == ["first must be at least 0, got -1"]
    body = graphql(client, "{ records(last: 1001) { nodes { source } } }")
    assert messages(body) == ["last must be at most 1000 (MAX_PAGE_SIZE), got 1001"]
    body = graphql(client, "{ records(last: -5) { nodes { source } } }")
    assert messages(body) == ["last must be at least 0, got -5"]
    body = graphql(client, "{ records(first: 2, last: 2) { nodes { source } } }")
    assert messages(body) == [
        "pass either first (page forward from after) or last (page backward from before), not both"
    ]
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}  # type: ignore[index]
    body = graphql(client, "{ etlRuns(first: 101) { id } }")
    assert messages(body) == ["first must be at most 100, got 101"]


def test_bad_arguments_say_what_is_wrong(client: TestClient) -> None:
    body = graphql(client, '{ records(source: ["binance"]) { nodes { source } } }')
    assert messages(body) == [
        "source: unknown source 'binance' (known: coinpaprika, coingecko, csv, csv2)"
    ]
    body = graphql(client, '{ records(after: "bogus") { nodes { source } } }')
    assert messages(body)[0].startswith("invalid cursor: not a token issued by this service")
    body = graphql(client, '{ records(since: "last tuesday") { nodes { source } } }')
    assert "DateTime" in messages(body)[0]
    body = graphql(client, "{ records { nodes { price } } }")
    assert messages(body) == ["Cannot query field 'price' on type 'Record'."]


def test_a_cursor_from_the_other_order_is_refused(client: TestClient, store: Store) -> None:
    body = graphql(client, "{ records(first: 1) { pageInfo { endCursor } } }")
    cursor = body["data"]["records"]["pageInfo"]["endCursor"]  # type: ignore[index]
    body = graphql(
        client,
        "query($a: String) { records(after: $a, order: ASC) { nodes { source } } }",
        a=cursor,
    )
    assert "cursor was issued for order DESC" in messages(body)[0]


def test_deep_nesting_is_refused(client: TestClient) -> None:
    deep = "ofType { " * 20 + "name" + " }" * 20
    body = graphql(client, '{ __type(name: "Record") { fields { type { ' + deep + " } } } }")
    assert messages(body) == ["'anonymous' exceeds maximum operation depth of 15"]


@pytest.mark.slow
def test_five_hundred_aliases_are_refused(client: TestClient) -> None:
    query = "{ " + " ".join(f"a{i}: health {{ db }}" for i in range(500)) + " }"
    body = graphql(client, query)
    assert messages(body) == ["500 aliases found. Allowed: 30"]


def test_huge_documents_are_not_parsed(client: TestClient) -> None:
    query = "{ health { " + "db " * 6000 + "} }"
    body = graphql(client, query)
    assert messages(body) == [
        "Syntax Error: Document contains more than 5000 tokens. Parsing aborted."
    ]


def test_graphiql_introspection_query_is_allowed(client: TestClient) -> None:
    body = graphql(client, get_introspection_query(input_value_deprecation=True))
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"  # type: ignore[index]


def test_unexpected_errors_are_masked_unless_debug(
    database_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with engine.begin() as conn:
        # A run status the schema does not know: a bug the client must not see details of.
        conn.execute(insert(etl_runs), {"status": "weird", "trigger": "manual", "started_at": T0})
    seen = {}
    for debug in ("false", "true"):
        app = create_app(make_settings(database_url, DEBUG=debug).app_config())
        with TestClient(app) as client:
            body = graphql(client, "{ etlRuns { id status } }")
        assert body["data"] is None
        seen[debug] = messages(body)
    assert seen["false"] == ["Unexpected error."]
    assert "'weird' is not a valid RunStatus" in seen["true"][0]
    assert "graphql resolver failed at etlRuns" in caplog.text
    assert "'weird' is not a valid RunStatus" in caplog.text


def test_introspection_and_graphiql_switches(database_url: str) -> None:
    config = make_settings(database_url, INTROSPECTION="false", GRAPHIQL="false").app_config()
    with TestClient(create_app(config)) as client:
        body = graphql(client, "{ __schema { queryType { name } } }")
        assert "introspection" in messages(body)[0].lower()
        assert graphql(client, "{ health { db } }")["data"] == {"health": {"db": "ok"}}
        page = client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 400  # no GraphiQL: a GET without a query is refused
        assert "no GraphQL document" in page.json()["errors"][0]["message"]
        assert client.get("/graphiql-assets/graphiql.min.js").status_code == 404


def test_graphiql_page_is_served_with_local_assets(client: TestClient) -> None:
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "unpkg" not in page.text and "jsdelivr" not in page.text
    for asset in ("graphiql.min.js", "react.production.min.js", "graphiql.min.css"):
        assert f"/graphiql-assets/{asset}" in page.text
        assert client.get(f"/graphiql-assets/{asset}").status_code == 200
