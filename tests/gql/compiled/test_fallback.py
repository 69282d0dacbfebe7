"""What the compiled path serves, what it leaves to normal execution, and that both answer
alike: same bytes, same metrics, same error output."""

from __future__ import annotations

import json
import logging
import math
from datetime import timedelta

import pytest
from sqlalchemy import Engine, insert, text
from starlette.testclient import TestClient

from kasparro.db.tables import records
from tests.gql.compiled.conftest import Pair
from tests.gql.store import HOURS, T0, Store
from tests.gql.test_metrics import samples, scrape
from tests.gql.test_request_log import ReadLines, json_logs

__all__ = ["json_logs"]  # the fixture, for the access log test

PAGE = """
query Page($first: Int!, $after: String) {
  records(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { source recordId value timestamp symbol name marketCap volume24h } }
  }
}
"""


def test_a_page_is_compiled_and_byte_identical(pair: Pair, store: Store) -> None:
    status, body = pair.send(PAGE, {"first": 5})
    assert status == 200
    assert body.startswith(b'{"data":{"records":{"totalCount":48,"pageInfo":{"hasNextPage":true,')
    page = json.loads(body)["data"]["records"]
    newest = store.newest_first()[:5]
    assert [
        (edge["node"]["timestamp"], edge["node"]["source"], edge["node"]["recordId"])
        for edge in page["edges"]
    ] == store.keys(newest)
    assert page["edges"][0]["node"]["timestamp"] == "2024-05-01T05:00:00+00:00"
    assert page["edges"][0]["node"]["value"] == newest[0]["value"]
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    assert pair.served_compiled(PAGE, "Page")
    # The next page continues after the cursor, on the compiled path too.
    _, second = pair.send(PAGE, {"first": 50, "after": page["pageInfo"]["endCursor"]})
    rest = json.loads(second)["data"]["records"]
    assert len(rest["edges"]) == 48 - 5
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["edges"][-1]["cursor"]}


def test_aliases_fragments_and_typename_keep_the_selection_order(pair: Pair) -> None:
    query = """
    { __typename
      page: records(first: 2, order: ASC, source: ["CSV2"]) {
        ... on RecordConnection { n: totalCount }
        nodes { ...Row kind: __typename }
        nodes { when: timestamp ...Row }
      } }
    fragment Row on Record { id: recordId, value, marketCap }
    """
    status, body = pair.send(query, method="GET")
    assert status == 200
    assert json.loads(body) == {
        "data": {
            "__typename": "Query",
            "page": {
                "n": 6,
                "nodes": [
                    {
                        "id": "BTC",
                        "value": 60000.3 + hour,
                        "marketCap": None,
                        "kind": "Record",
                        "when": f"2024-05-01T0{hour}:00:00+00:00",
                    }
                    for hour in (0, 1)
                ],
            },
        }
    }
    assert pair.served_compiled(query)


FALLBACKS = {
    "asset (a DataLoader)": "{ records(first: 3) { nodes { source asset { id name } } } }",
    "include": "{ records(first: 3) { nodes { source value @include(if: false) } } }",
    "skip on a fragment": "{ records(first: 3) { nodes { ... @skip(if: true) { source } name } } }",
    "directive on a spread": (
        "{ records(first: 3) { nodes { ...R @include(if: true) } } } "
        "fragment R on Record { source }"
    ),
    "another root field": "{ records(first: 1) { totalCount } stats { recordsTotal } }",
    "records twice": "{ a: records(first: 1) { totalCount } b: records(first: 2) { totalCount } }",
    "introspection": '{ __type(name: "Record") { fields { name } } }',
    "Asset.sources (a DataLoader)": "{ latestPrices { source asset { id sources } } }",
    "latestPrices and records": "{ latestPrices { source } records { totalCount } }",
    "etlRuns": "{ etlRuns { id status sources { source inserted } } }",
    "a mutation": "mutation { runEtl { id } }",
}


@pytest.mark.parametrize("query", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_what_the_compiled_path_leaves_to_normal_execution(pair: Pair, query: str) -> None:
    status, body = pair.send(query)
    assert status == 200
    assert b'"data"' in body
    assert pair.plans.compilations == 1
    assert not pair.served_compiled(query)


ERRORS = {
    "first below 0": ({"first": -1}, "first must be at least 0, got -1"),
    "first above MAX_PAGE_SIZE": (
        {"first": 1001},
        "first must be at most 1000 (MAX_PAGE_SIZE), got 1001",
    ),
    "a bad cursor": ({"first": 1, "after": "junk"}, "invalid cursor: not a token issued"),
    "a variable of the wrong type": (
        {"first": "many"},
        "Variable '$first' has invalid value: Int cannot represent non-integer value: 'many'",
    ),
    "a missing variable": (
        {},
        "Variable '$first' has invalid value: Expected a value of non-null type 'Int!'",
    ),
}


@pytest.mark.parametrize(("variables", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_bad_input_gets_the_normal_error_output(
    pair: Pair, variables: dict[str, object], message: str
) -> None:
    status, body = pair.send(PAGE, variables)
    assert status == 200
    answer = json.loads(body)
    if message.startswith("Variable"):  # coercion fails before execution: no data
        assert "data" not in answer
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    else:
        assert answer["data"] is None
    assert answer["errors"][0]["message"].startswith(message), answer
    # The operation has a plan; this request's arguments sent it the normal way.
    assert pair.served_compiled(PAGE, "Page")


def test_limits_are_enforced_before_the_compiled_path(pair: Pair) -> None:
    aliases = " ".join(f"a{n}: source" for n in range(31))
    status, body = pair.send(f"{{ records {{ nodes {{ {aliases} }} }} }}")
    assert status == 200
    assert json.loads(body)["errors"][0]["message"] == ("31 aliases found. Allowed: 30")
    assert pair.plans.compilations == 0


def test_values_normal_execution_cannot_serialize_are_its_to_report(
    pair: Pair, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(records),
            {
                "source": "csv",
                "record_id": "INF",
                "timestamp": T0 + timedelta(hours=HOURS),
                "asset_id": "bitcoin",
                "symbol": "INF",
                "name": "Infinity",
                "value": math.inf,
                "run_id": 1,
                "ingested_at": T0,
            },
        )
    query = "{ records(first: 2) { nodes { recordId value } } }"
    status, body = pair.send(query)
    assert status == 200
    assert json.loads(body) == {
        "data": None,
        "errors": [
            {
                "message": "Unexpected error.",
                "locations": [{"line": 1, "column": 40}],
                "path": ["records", "nodes", 0, "value"],
            }
        ],
    }
    assert pair.served_compiled(query)
    assert "compiled execution failed" not in caplog.text
    # A page without that value is served.
    status, body = pair.send("{ records(first: 2) { nodes { recordId } } }")
    assert json.loads(body)["data"]["records"]["nodes"][0] == {"recordId": "INF"}


def test_a_database_failure_is_reported_like_normal_execution(
    pair: Pair, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE records RENAME TO records_away"))
    try:
        status, body = pair.send(PAGE, {"first": 2})
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE records_away RENAME TO records"))
    assert status == 200
    assert json.loads(body)["errors"][0]["message"] == "Unexpected error."
    assert "compiled execution failed" not in caplog.text
    assert "graphql resolver failed at records" in caplog.text


def operation_metrics(client: TestClient) -> dict[tuple[str, str, str], float]:
    return {
        (labels["operation"], labels["type"], labels["status"]): value
        for labels, value in samples(scrape(client), "kasparro_graphql_operations_total")
    }


def test_compiled_operations_count_in_the_operation_metrics(pair: Pair) -> None:
    pair.send(PAGE, {"first": 3})
    pair.send(PAGE, {"first": 3}, "Page")
    pair.send(PAGE, {"first": -1})
    pair.send("{ records { totalCount } }")
    expected = {
        ("Page", "query", "success"): 2,
        ("Page", "query", "error"): 1,
        ("anonymous", "query", "success"): 1,
    }
    assert operation_metrics(pair.compiled) == expected
    assert operation_metrics(pair.normal) == expected
    assert pair.shortcut.answered == 1  # the second page request


def test_debug_logging_says_why_an_operation_runs_normally(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kasparro.gql.compiled")
    pair.send(FALLBACKS["asset (a DataLoader)"])
    assert "graphql operation None runs normally: Record.asset is resolved" in caplog.text


def test_the_access_log_names_operations_served_from_a_plan(
    pair: Pair, json_logs: ReadLines
) -> None:
    for _ in range(2):  # compiled in the extension, then answered by the view's shortcut
        pair.compiled.post("/graphql", json={"query": PAGE, "variables": {"first": 1}})
    pair.compiled.post("/graphql", json={"query": "{ records(first: 1) { totalCount } }"})
    lines = [line for line in json_logs() if line.get("route") == "/graphql"]
    assert [line["graphql_operation"] for line in lines] == ["Page", "Page", "anonymous"]
    assert pair.shortcut.answered == 1
