"""GraphQL variables past MAX_VARIABLE_VALUES, MAX_VARIABLE_DEPTH or
MAX_VARIABLE_STRING_CHARS are refused (400) before anything coerces them (``gql.variables``).

Before: a small query with a list of 150,000 strings as ``variables`` was coerced on the
event loop (for the cost estimate, then for execution), two seconds during which /health
waited; deep lists and 1 MB strings went through too. How long /health waits under such
requests is measured by ``bench/bench_hostile_requests.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.gql.variables import VariableLimits
from tests.conftest import make_settings
from tests.gql.compiled.conftest import graphql_app
from tests.gql.store import Store

SOURCES = "query($s: [String!]) { records(source: $s, first: 2) { nodes { source } } }"
ASSETS = "query($a: [String!]) { latestPrices(asset: $a) { source } }"


def nested(depth: int) -> Any:
    value: Any = "csv"
    for _ in range(depth):
        value = [value]
    return value


def refused(client: TestClient, query: str, variables: dict[str, Any], *, get: bool = False) -> str:
    if get:
        response = client.get(
            "/graphql", params={"query": query, "variables": json.dumps(variables)}
        )
    else:
        response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]  # a request error: no data, nothing ran
    assert set(response.json()) == {"errors"}
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    message: str = error["message"]
    return message


@pytest.mark.parametrize("get", [False, True], ids=["POST", "GET"])
def test_too_many_values_are_refused_before_coercion(
    client: TestClient, store: Store, get: bool
) -> None:
    many = 1_500 if get else 150_000  # a URL holds less than a body
    message = refused(client, SOURCES, {"s": ["csv"] * many}, get=get)
    assert message == (
        "variables: more than 1,000 values (list items and object fields, "
        "MAX_VARIABLE_VALUES); send fewer values or split the request"
    )
    # Values in variables the document does not declare count as well: nothing coerces them,
    # but they are decoded, walked and kept.
    assert "MAX_VARIABLE_VALUES" in refused(
        client, "{ health { db } }", {f"v{n}": n for n in range(1001)}, get=get
    )
    assert graphql_app(client).offload.offloaded == 0


def test_deep_and_long_values_are_refused(client: TestClient, store: Store) -> None:
    assert refused(client, SOURCES, {"s": nested(9)}) == (
        "variables: nested more than 8 lists or objects deep (MAX_VARIABLE_DEPTH)"
    )
    assert refused(client, SOURCES, {"s": {"a": {"b": nested(7)}}}).endswith("(MAX_VARIABLE_DEPTH)")
    long = "c" * 1_000_000
    assert refused(client, ASSETS, {"a": ["bitcoin", long, "ethereum"]}) == (
        "variables: a string of 1,000,000 characters, over the limit of 4,096 "
        "(MAX_VARIABLE_STRING_CHARS)"
    )
    # Object keys are strings too.
    assert "MAX_VARIABLE_STRING_CHARS" in refused(client, SOURCES, {"s": None, long: 1})


def test_values_within_the_bounds_are_coerced_and_answered(
    client: TestClient, store: Store
) -> None:
    # 999 list items + the variable itself: exactly 1,000 values.
    response = client.post("/graphql", json={"query": SOURCES, "variables": {"s": ["csv"] * 999}})
    assert response.status_code == 200
    assert response.json()["errors"][0]["message"] == "source: at most 100 values per request"
    response = client.post("/graphql", json={"query": SOURCES, "variables": {"s": ["csv", "csv2"]}})
    nodes = response.json()["data"]["records"]["nodes"]
    assert len(nodes) == 2
    assert {node["source"] for node in nodes} <= {"csv", "csv2"}
    # Eight deep is allowed (graphql-core then says the type does not match).
    response = client.post("/graphql", json={"query": SOURCES, "variables": {"s": nested(8)}})
    assert response.status_code == 200
    assert "invalid value" in response.json()["errors"][0]["message"]
    limit = "b" * 4096
    response = client.post("/graphql", json={"query": ASSETS, "variables": {"a": [limit]}})
    assert response.status_code == 200
    assert "at most 200 characters" in response.json()["errors"][0]["message"]


@pytest.fixture
def strict(database_url: str, store: Store) -> Iterator[TestClient]:
    settings = make_settings(
        database_url,
        MAX_VARIABLE_VALUES="3",
        MAX_VARIABLE_DEPTH="1",
        MAX_VARIABLE_STRING_CHARS="5",
    )
    with TestClient(create_app(settings.app_config())) as client:
        yield client


def test_each_bound_is_a_setting(strict: TestClient) -> None:
    response = strict.post("/graphql", json={"query": SOURCES, "variables": {"s": ["csv"] * 2}})
    assert response.status_code == 200
    assert "more than 3 values" in refused(strict, SOURCES, {"s": ["csv"] * 3})
    assert "more than 1 lists" in refused(strict, SOURCES, {"s": [["csv"]]})
    assert "limit of 5" in refused(strict, SOURCES, {"s": ["csv2xx"]})


def test_the_walk_stops_at_the_first_value_past_a_limit() -> None:
    limits = VariableLimits(max_values=10, max_depth=3, max_string_chars=8)
    limits.check(None)
    limits.check({})
    limits.check({"a": [1, 2, 3], "b": {"c": "12345678"}})
    # A list far past the bound is refused by its length, before its items are visited.
    with pytest.raises(Exception, match="more than 10 values"):
        limits.check({"a": list(range(10**7))})
    # Nesting as deep as JSON decoding allows is refused at the first level past the bound.
    with pytest.raises(Exception, match="nested more than 3"):
        limits.check({"a": nested(900)})
