"""MAX_QUERY_COST: amplified answers are refused before anything runs; ordinary ones pass."""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLSchema,
    OperationDefinitionNode,
    get_introspection_query,
    get_named_type,
    get_nullable_type,
    is_list_type,
    parse,
)
from starlette.testclient import TestClient

from kasparro.db.queries import REJECT_RAW_SHOWN
from kasparro.gql.app import create_app
from kasparro.gql.config import AppConfig
from kasparro.gql.cost import LATEST_PRICES_ROWS, TEXT_UNIT_CHARS, QueryCost, estimates
from kasparro.gql.schema import build_schema
from tests.conftest import REPO, make_settings
from tests.gql.adversarial import AMPLIFIED, FULL_PAGE, RECORD
from tests.gql.compiled.conftest import graphql_app
from tests.gql.conftest import graphql
from tests.gql.store import Store


def cost_of(query: str, variables: dict[str, Any] | None = None, **config: Any) -> int | None:
    settings = AppConfig(**config)
    document = parse(query)
    operation = next(
        node for node in document.definitions if isinstance(node, OperationDefinitionNode)
    )
    return QueryCost(settings).estimate(
        build_schema(settings)._schema, document, operation, variables
    )


def test_the_issue_amplification_is_refused_before_execution(
    client: TestClient, app_statements: list[str]
) -> None:
    # 30 aliases of a 1000-row page with the asset: 9 MB in 8 s before.
    response = client.post("/graphql", json={"query": AMPLIFIED})
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "message": "query too costly: its estimated cost is 360,060, over the limit "
                "of 50,000 (MAX_QUERY_COST; about one unit per value in the answer); ask for "
                "fewer rows (first), fewer fields or fewer aliases, or split the query",
                "extensions": {"code": "QUERY_TOO_COSTLY"},
            }
        ],
    }
    assert app_statements == []  # not one query reached the database


def test_four_pages_run_and_five_are_refused(client: TestClient, store: Store) -> None:
    four = AMPLIFIED.split(" a4:")[0] + " }"
    five = AMPLIFIED.split(" a5:")[0] + " }"
    assert cost_of(four) == 4 * (2 + 1000 * 12) < 50_000 < cost_of(five)  # type: ignore[operator]
    body = graphql(client, four)
    assert "errors" not in body
    assert len(body["data"]["a3"]["nodes"]) == len(store.records)  # type: ignore[index]
    assert graphql(client, five)["errors"][0]["extensions"] == {"code": "QUERY_TOO_COSTLY"}  # type: ignore[index]


def api_doc_examples() -> list[str]:
    text = (REPO / "docs" / "api.md").read_text()
    return re.findall(r"```graphql\n(.*?)```", text, flags=re.DOTALL)


def test_ordinary_queries_stay_allowed(client: TestClient, store: Store) -> None:
    examples = api_doc_examples()
    assert len(examples) >= 5
    introspection = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    latest = "{ latestPrices { asset { id symbol name sources } source recordId value timestamp } }"
    for query in [*examples, introspection, FULL_PAGE, latest]:
        body = graphql(client, query)
        codes = [error.get("extensions", {}).get("code") for error in body.get("errors", [])]  # type: ignore[attr-defined]
        assert "QUERY_TOO_COSTLY" not in codes, (query, body)
    body = graphql(client, FULL_PAGE)
    assert len(body["data"]["records"]["edges"]) == len(store.records)  # type: ignore[index]
    assert cost_of(FULL_PAGE) == 1 + 1 + 3 + 2 * 1 + 1000 * (19 + 17)
    # Introspection grows with the schema; it must stay far below the default limit.
    assert cost_of(introspection) is not None and cost_of(introspection) < 50_000 / 3  # type: ignore[operator]


def test_first_counts_as_sent_from_variables_from_defaults_and_null() -> None:
    page = "records{} {{ nodes {{ source value }} }}"
    one_row = 2  # two leaves
    assert cost_of("{ " + page.format("(first: 7)") + " }") == 1 + 1 + 7 * one_row
    assert cost_of("{ " + page.format("") + " }") == 1 + 1 + 100 * one_row  # SDL default
    null = "{ " + page.format("(first: null)") + " }"
    assert cost_of(null, default_page_size=250) == 1 + 1 + 250 * one_row
    query = "query($n: Int) { " + page.format("(first: $n)") + " }"
    assert cost_of(query, {"n": 3}) == 1 + 1 + 3 * one_row
    assert cost_of(query, {"n": 1_000_000}) == 1 + 1 + 1000 * one_row  # refused by first
    with_default = "query($n: Int = 40) { " + page.format("(first: $n)") + " }"
    assert cost_of(with_default) == 1 + 1 + 40 * one_row
    assert cost_of(query, {"n": "many"}) is None  # execution says what is wrong


def test_list_estimates_and_merging() -> None:
    assert cost_of("{ latestPrices { value } }") == 1 + LATEST_PRICES_ROWS
    assert cost_of('{ latestPrices(symbol: ["btc", "eth"]) { value } }') == 1 + 2 * 4
    assert cost_of("{ etlRuns { id sources { source } } }") == 1 + 20 * (1 + 1 + 4)
    assert cost_of("{ assets(first: 3) { id sources } }") == 1 + 3 * (1 + 1 + 4)
    # Fields under one key are merged, a fragment spread twice counts once.
    merged = "{ records(first: 5) { nodes { value } nodes { value source } } }"
    assert cost_of(merged) == 1 + 1 + 5 * 2
    twice = "{ ...F ...F } fragment F on Query { health { db } }"
    assert cost_of(twice) == 2


def test_a_rejects_raw_text_counts_by_the_characters_it_may_hold() -> None:
    per_raw = REJECT_RAW_SHOWN // TEXT_UNIT_CHARS  # 50
    reasons = "{ etlRuns(first: 2) { sources { rejects(first: 3) { reason } } } }"
    raws = "{ etlRuns(first: 2) { sources { rejects(first: 3) { raw } } } }"
    assert cost_of(reasons) == 1 + 2 * (1 + 4 * (1 + 3 * 1))
    assert cost_of(raws) == 1 + 2 * (1 + 4 * (1 + 3 * per_raw))
    # Every stored reject's raw text of 100 runs (about 40 MB) is refused, not ~40,000.
    widest = "{ etlRuns(first: 100) { sources { rejects(first: 100) { raw } } } }"
    widest_cost = cost_of(widest)
    assert widest_cost is not None and widest_cost > 50_000 * 10
    assert cost_of(widest.replace("raw", "rawChars")) == 1 + 100 * (1 + 4 * (1 + 100))


def test_every_list_in_the_schema_has_an_estimate() -> None:
    config = AppConfig()
    schema: GraphQLSchema = build_schema(config)._schema
    known = estimates(config, schema)
    lists = {
        (type_.name, name)
        for type_ in schema.type_map.values()
        for name, field in getattr(type_, "fields", {}).items()
        if hasattr(field, "resolve") and is_list_type(get_nullable_type(field.type))
    }
    assert lists <= set(known), lists - set(known)
    # A connection's page lists are per row of the connection.
    assert get_named_type(schema.type_map["RecordConnection"].fields["nodes"].type).name == "Record"  # type: ignore[attr-defined]


def test_the_compiled_shortcut_does_not_bypass_the_limit(database_url: str, store: Store) -> None:
    settings = make_settings(database_url, MAX_QUERY_COST="5000")
    query = f"query Page($n: Int) {{ records(first: $n) {{ nodes {{ {RECORD} }} }} }}"
    with TestClient(create_app(settings.app_config())) as client:
        app = graphql_app(client)
        assert app.shortcut is not None
        for _ in range(2):
            body = graphql(client, query, n=10)
            assert len(body["data"]["records"]["nodes"]) == 10  # type: ignore[index]
        assert app.shortcut.answered == 1  # the second one came through the shortcut
        body = graphql(client, query, n=1000)
        assert "data" not in body  # refused before execution
        error = body["errors"][0]  # type: ignore[index]
        assert error["extensions"] == {"code": "QUERY_TOO_COSTLY"}
        assert "estimated cost is 8,002, over the limit of 5,000" in error["message"]
        assert app.shortcut.answered == 1


def test_the_limit_is_a_setting(database_url: str, store: Store) -> None:
    settings = make_settings(database_url, MAX_QUERY_COST="10")
    with TestClient(create_app(settings.app_config())) as client:
        body = graphql(client, "{ records(first: 4) { nodes { source value } } }")  # cost 10
        assert len(body["data"]["records"]["nodes"]) == 4  # type: ignore[index]
        body = graphql(client, "{ records(first: 5) { nodes { source value } } }")  # cost 12
        assert body["errors"][0]["message"].startswith(  # type: ignore[index]
            "query too costly: its estimated cost is 12, over the limit of 10 "
        )
