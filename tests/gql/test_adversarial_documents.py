"""Generated adversarial documents: every rule gives the exact result, in linear work.

The depth and alias rules used to follow every fragment spread again: 22 fragments each
spreading the next twice took seconds, 100 never finished. Here each family
(``tests.gql.adversarial``) is checked at sizes up to its worst case against closed-form
expectations, random fragment graphs against an independent reference, and the worst case
of every family through the real endpoint. Timing is the benchmark's job
(``bench/bench_validation.py``); the timeout only stops a rule that would never finish.
"""

from __future__ import annotations

import functools

import pytest
from graphql import GraphQLSchema, parse, validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from kasparro.gql.config import AppConfig
from kasparro.gql.schema import build_schema
from kasparro.gql.shape import shape_rule
from tests.gql.adversarial import (
    Case,
    aliases_error,
    chain,
    complete_dag,
    cycle,
    depth_error,
    depth_nested,
    depth_through_fragments,
    diamonds,
    flat_aliases,
    worst_cases,
)
from tests.gql.conftest import graphql

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(AppConfig())._schema


def our_rules(schema: GraphQLSchema, query: str) -> tuple[str, ...]:
    """What the depth and alias rules alone report about ``query`` (graphql-core's abort
    for fragments nested over 200 deep, which it adds to any rule set, left out)."""
    errors = validate(schema, parse(query), [shape_rule(15, 30)])
    return tuple(error.message for error in errors if error.message != "Validation aborted.")


FAMILIES = [
    *(
        chain(length, fanout, aliased)
        for length in (1, 2, 5, 22, 120, 199)
        for fanout in (1, 2, 3)
        for aliased in (False, True)
    ),
    *(complete_dag(size) for size in (1, 2, 5, 31, 66)),
    *(diamonds(size) for size in (1, 4, 14, 60, 150)),
    *(depth_through_fragments(levels) for levels in (0, 13, 14, 15, 100, 400)),
    *(depth_nested(levels) for levels in (13, 14, 15, 100, 190)),
    *(flat_aliases(count) for count in (30, 31, 1000)),
    *(cycle(length) for length in (1, 2, 50, 500)),
]


@pytest.mark.parametrize("case", FAMILIES, ids=lambda case: case.family)
def test_each_family_gets_the_closed_form_result(schema: GraphQLSchema, case: Case) -> None:
    assert our_rules(schema, case.query) == case.errors


def test_the_boundaries_are_where_the_limits_say(schema: GraphQLSchema) -> None:
    assert our_rules(schema, depth_through_fragments(14).query) == ()
    assert our_rules(schema, depth_through_fragments(15).query) == depth_error(16)
    assert our_rules(schema, flat_aliases(30).query) == ()
    # 1 + 2 + 4 + 8 + 16 = 31 aliases through five fragments.
    assert our_rules(schema, chain(5, 2, aliased=True).query) == aliases_error(31)
    assert our_rules(schema, chain(4, 2, aliased=True).query) == ()


@st.composite
def fragment_graphs(draw: st.DrawFn) -> tuple[str, int, int]:
    """A random DAG of fragments on ``__Type``: each holds some aliases and some nesting
    (``ofType { … }`` levels) and spreads later fragments, some several times, some inside
    its nesting. Returns the document and, by a reference independent of the rules, its
    alias count and depth."""
    size = draw(st.integers(1, 12))
    aliases = [draw(st.integers(0, 2)) for _ in range(size)]
    nesting = [draw(st.integers(0, 3)) for _ in range(size)]
    spreads = [
        draw(
            st.lists(
                st.tuples(st.integers(i + 1, size - 1), st.integers(0, nesting[i])), max_size=4
            )
        )
        if i < size - 1
        else []
        for i in range(size)
    ]

    def body(i: int) -> str:
        leaves = " ".join(f"a{k}: name" for k in range(aliases[i])) or "name"
        levels = ["" for _ in range(nesting[i] + 1)]
        for child, level in spreads[i]:
            levels[level] += f" ...T{child}"
        text = ""
        for level in reversed(range(nesting[i] + 1)):
            inner = f"ofType {{ name{text} }}" if level < nesting[i] else ""
            text = f" {inner}{levels[level]}" if inner or levels[level] else ""
        return f"{leaves}{text}"

    fragments = [f"fragment T{i} on __Type {{ {body(i)} }}" for i in range(size)]
    query = '{ __type(name: "Query") { ...T0 } }\n' + "\n".join(fragments)

    @functools.cache
    def alias_count(i: int) -> int:
        return aliases[i] + sum(alias_count(child) for child, _ in spreads[i])

    @functools.cache
    def depth(i: int) -> int:
        return max([nesting[i], *(level + depth(child) for child, level in spreads[i])])

    return query, alias_count(0), 1 + depth(0)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(graph=fragment_graphs())
@pytest.mark.slow
def test_random_fragment_graphs_match_an_independent_reference(
    graph: tuple[str, int, int],
) -> None:
    query, aliases, depth = graph
    schema = build_schema(AppConfig())._schema
    assert our_rules(schema, query) == depth_error(depth) + aliases_error(aliases)


def test_the_issue_document_is_answered(client: TestClient) -> None:
    # 22 fragments each spreading the next twice (~1 KB): seconds of validation before.
    body = graphql(client, chain(23, 2, aliased=False).query)
    assert body == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("case", list(worst_cases()), ids=lambda case: case.family)
@pytest.mark.slow
def test_the_worst_case_of_each_family_through_the_endpoint(client: TestClient, case: Case) -> None:
    response = client.post("/graphql", json={"query": case.query})
    assert response.status_code == 200
    body = response.json()
    messages = tuple(error["message"] for error in body.get("errors", ()))
    if case.all_errors:
        assert "data" not in body  # refused before execution
        assert messages == case.all_errors
    else:
        # Valid documents run: the literal and list families fail in their resolvers
        # with input errors, the others answer.
        assert all("Unexpected" not in message for message in messages)
