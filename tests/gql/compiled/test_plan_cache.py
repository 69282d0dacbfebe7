"""The plan cache: one compilation per operation, bounded, per application; and the
GRAPHQL_COMPILED switch."""

from __future__ import annotations

import json

from graphql import parse
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient
from strawberry.extensions.tracing import ApolloTracingExtension

from kasparro.gql.app import create_app
from kasparro.gql.compiled.extension import PlanCache
from kasparro.gql.compiled.fastpath import PlanShortcut
from kasparro.gql.compiled.plan import Const, Leaf, One, Rows, Shape, TotalCount
from kasparro.gql.config import AppConfig
from kasparro.gql.cost import QueryCost
from kasparro.gql.documents import estimated_bytes
from kasparro.gql.lru import ENTRY_SHARE
from kasparro.gql.observability.instruments import GraphQLMetrics
from kasparro.gql.schema import build_schema
from tests.conftest import make_settings
from tests.gql.compiled.conftest import Pair, plans_of
from tests.gql.store import Store

TWO = """
query Newest($first: Int) { records(first: $first) { nodes { recordId } } }
query Count { records { total: totalCount } }
"""


def test_each_operation_is_compiled_once_and_reused(pair: Pair) -> None:
    for first in (1, 2, 3):
        _, body = pair.send(TWO, {"first": first}, "Newest")
        assert len(json.loads(body)["data"]["records"]["nodes"]) == first
    assert pair.plans.compilations == 1
    # The first request compiled the plan; the view's shortcut answered the other two.
    assert pair.shortcut.answered == 2
    _, body = pair.send(TWO, None, "Count")
    assert json.loads(body) == {"data": {"records": {"total": 48}}}
    pair.send(TWO, {"first": 1}, "Newest", method="GET")
    assert pair.plans.compilations == 2
    # Without operationName a document of two operations runs neither (the specification's
    # request error), so no plan is kept under None for it.
    assert pair.plans.size == 2
    assert pair.plans.get(TWO, None) is None
    status, body = pair.send(TWO, {"first": 2})
    assert status == 200
    assert json.loads(body) == {
        "errors": [
            {
                "message": "Must provide operation name if query contains multiple operations.",
                "extensions": {"code": "OPERATION_RESOLUTION_FAILURE"},
            }
        ]
    }
    assert pair.plans.compilations == 2
    assert pair.shortcut.answered == 3
    # A document of one operation has its plan under its name and under None.
    one = "query Only { records(first: 2) { nodes { recordId } } }"
    pair.send(one, None, "Only")
    assert pair.plans.get(one, None) is pair.plans.get(one, "Only") is not None


def test_the_cache_is_bounded_and_evicts_the_least_recently_used() -> None:
    schema = build_schema(AppConfig())
    queries = [f"{{ records(first: {n}) {{ totalCount }} }}" for n in (1, 2, 3)]
    one = estimated_bytes(queries[0], parse(queries[0]))
    plans = PlanCache(max_bytes=ENTRY_SHARE * one)
    plans.cache.max_bytes = 2 * one  # room for two plans, each within the entry limit

    def plan(query: str) -> None:
        assert plans.plan(schema, query, parse(query), None) is not None

    plan(queries[0])
    plan(queries[1])
    plan(queries[0])  # a hit: queries[1] is now the least recently used
    plan(queries[2])
    assert (plans.compilations, plans.size) == (3, 2)
    assert plans.get(queries[1], None) is None
    plan(queries[0])
    assert plans.compilations == 3
    plan(queries[1])
    assert (plans.compilations, plans.size) == (4, 2)


def test_a_plan_describes_the_response_shape() -> None:
    schema = build_schema(AppConfig())
    query = "{ r: records { __typename total: totalCount nodes { value ...M } } } "
    query += "fragment M on Record { marketCap when: timestamp }"
    plan = PlanCache(AppConfig().graphql_cache_bytes).plan(schema, query, parse(query), None)
    assert plan is not None
    assert plan.counts
    assert plan.root.keys == ("r",)
    connection = plan.root.parts[0]
    assert isinstance(connection, One)
    assert connection.shape.keys == ("__typename", "total", "nodes")
    assert connection.shape.parts[:2] == (Const("RecordConnection"), TotalCount())
    nodes = connection.shape.parts[2]
    assert isinstance(nodes, Rows)
    assert nodes.shape.keys == ("value", "marketCap", "when")
    assert nodes.shape.parts == (
        Leaf("value", "float", nullable=False),
        Leaf("market_cap", "float", nullable=True),
        Leaf("timestamp", "timestamp", nullable=False),
    )


def test_a_latest_prices_plan_reads_the_price_and_asset_columns(pair: Pair) -> None:
    query = "{ latestPrices { v: value asset { __typename symbol id } at: timestamp } }"
    pair.send(query)
    plan = pair.plans.get(query, None)
    assert plan is not None
    assert plan.root_field == "latestPrices" and not plan.counts
    assert plan.root.keys == ("latestPrices",)
    prices = plan.root.parts[0]
    assert isinstance(prices, Rows)
    assert prices.shape.keys == ("v", "asset", "at")
    asset = prices.shape.parts[1]
    assert prices.shape.parts[::2] == (
        Leaf("value", "float", nullable=False),
        Leaf("timestamp", "timestamp", nullable=False),
    )
    assert asset == Rows(
        Shape(
            ("__typename", "symbol", "id"),
            (
                Const("Asset"),
                Leaf("asset_symbol", "text", nullable=False),
                Leaf("asset_id", "text", nullable=False),
            ),
        )
    )


def test_each_app_has_its_own_cache(pair: Pair, database_url: str) -> None:
    pair.send(TWO, None, "Count")
    with TestClient(create_app(make_settings(database_url).app_config())) as other:
        other_plans = plans_of(other)
        assert other_plans is not None and other_plans is not pair.plans
        assert other_plans.compilations == 0


def test_graphql_compiled_false_turns_the_path_off(database_url: str, store: Store) -> None:
    settings = make_settings(database_url, GRAPHQL_COMPILED="false")
    assert settings.app.graphql_compiled is False
    with TestClient(create_app(settings.app_config())) as client:
        assert plans_of(client) is None
        response = client.post("/graphql", json={"query": TWO, "operationName": "Count"})
        assert response.json() == {"data": {"records": {"total": 48}}}


def test_the_view_shortcut_needs_every_extension_known(database_url: str) -> None:
    config = make_settings(database_url).app_config()
    plans = PlanCache(config.graphql_cache_bytes)
    metrics = GraphQLMetrics(CollectorRegistry())
    cost = QueryCost(config)
    assert PlanShortcut.for_schema(build_schema(config), plans, metrics, cost) is not None
    tracing = build_schema(config, [ApolloTracingExtension])
    assert PlanShortcut.for_schema(tracing, plans, metrics, cost) is None
