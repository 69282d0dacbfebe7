"""MAX_QUERY_BYTES and GRAPHQL_CACHE_BYTES: oversized documents are not parsed, and the
caches of parsed documents and compiled plans hold a bounded number of bytes."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from graphql import get_introspection_query, parse, validate
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.gql.config import AppConfig
from kasparro.gql.documents import estimated_bytes
from kasparro.gql.lru import ENTRY_SHARE, ByteLRU
from kasparro.gql.rules import validation_rules
from kasparro.gql.schema import build_schema
from tests.conftest import make_settings
from tests.gql.compiled.conftest import graphql_app
from tests.gql.conftest import graphql
from tests.gql.store import Store


def literal_query(size: int, tag: int = 0, char: str = "y") -> str:
    """A valid document whose string literal makes it ``size`` characters long."""
    head, tail = f'{{ assets(symbol: "{tag}', '") { id } }'
    return head + char * (size - len(head) - len(tail)) + tail


def test_a_document_over_the_limit_is_refused_before_parsing(client: TestClient) -> None:
    documents = graphql_app(client).guards.documents
    # One 1 MB string literal: parsed and cached before, 2 MB of memory per distinct one.
    body = graphql(client, literal_query(1_000_000))
    assert body == {
        "errors": [
            {
                "message": "document too large: 1000000 bytes, over the limit of 65536 "
                "(MAX_QUERY_BYTES); send a shorter document (variables for long values)",
                "extensions": {"code": "QUERY_TOO_LARGE"},
            }
        ],
    }
    assert len(documents.cache) == 0
    # The limit counts UTF-8 bytes: 32,784 characters, most of them two bytes long.
    over = literal_query(32_784, char="é")
    assert len(over.encode()) == 65_538
    assert "65538 bytes" in graphql(client, over)["errors"][0]["message"]  # type: ignore[index]
    at_limit = literal_query(65_536)
    body = graphql(client, at_limit)
    # Parsed and run: the resolver refuses a 65 KB symbol, as it refuses any over 200.
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}  # type: ignore[index]
    assert documents.holds(at_limit)


@pytest.mark.slow
def test_the_document_cache_holds_a_bounded_number_of_bytes(
    database_url: str, store: Store
) -> None:
    settings = make_settings(database_url, GRAPHQL_CACHE_BYTES=str(4 * 1024 * 1024))
    with TestClient(create_app(settings.app_config())) as client:
        app = graphql_app(client)
        guards, plans = app.guards.documents, app.plans
        documents = guards.cache
        assert plans is not None
        for n in range(200):
            # Distinct 50 KB documents (about 110 KB each once parsed).
            assert graphql(client, literal_query(50_000, n))["errors"]
            # The same document padded with a distinct 50 KB comment: one entry, one plan.
            compiled = f"{{ records(first: 1) {{ nodes {{ source }} }} }} # {n:06d}{'-' * 50_000}"
            assert len(graphql(client, compiled)["data"]["records"]["nodes"]) == 1  # type: ignore[index]
            assert documents.bytes + guards.keys.bytes <= 4 * 1024 * 1024
            assert documents.bytes <= 3 * 1024 * 1024
            assert plans.cache.bytes <= 4 * 1024 * 1024
        assert 20 <= len(documents) <= 30
        assert plans.compilations == 200 + 1  # each literal document, the padded one once
        # The newest are the ones kept.
        assert guards.holds(literal_query(50_000, 199))


def test_an_entry_over_its_share_is_not_cached() -> None:
    cache: ByteLRU[str, int] = ByteLRU(ENTRY_SHARE * 1_000)
    assert cache.put("small", 1, 1_000)
    assert not cache.put("large", 2, 1_001)
    assert cache.get("large") is None and cache.bytes == 1_000
    for n in range(ENTRY_SHARE + 8):
        assert cache.put(f"k{n}", n, 1_000)
    assert cache.bytes == ENTRY_SHARE * 1_000 and len(cache) == ENTRY_SHARE
    assert cache.get("small") is None  # the least recently used went first
    assert cache.get(f"k{ENTRY_SHARE + 7}") == ENTRY_SHARE + 7


@pytest.mark.parametrize(
    "query",
    [
        "{ health { db } }",
        get_introspection_query(descriptions=True, input_value_deprecation=True),
        "{ health { " + "db " * 4990 + "} }",
        "{ " + " ".join(f"a{i}: health {{ db }}" for i in range(990)) + " }",
        '{ latestPrices(symbol: ["' + '", "'.join(["abcdefghij"] * 4000) + '"]) { value } }',
        '{ assets(symbol: "' + "y" * 65_000 + '") { id } }',
        '{ assets(symbol: """' + "z" * 60_000 + '""") { id } }',
        "{ health { db } }\n#" + "c" * 60_000,
        '{ __type(name: "Query") { ' + "ofType { " * 150 + "name" + " }" * 150 + " } }",
    ],
    ids=[
        "small",
        "introspection",
        "dense",
        "aliases",
        "list",
        "literal",
        "block",
        "comment",
        "nested",
    ],
)
@pytest.mark.slow
def test_the_estimate_covers_what_a_parsed_and_validated_document_holds(query: str) -> None:
    config = AppConfig()
    schema = build_schema(config)._schema
    rules = validation_rules(config)
    validate(schema, parse(query), rules)  # one-time caches of graphql-core
    tracemalloc.start()
    try:
        text = "".join(query)  # a copy of the text: the cache keeps it as the entry's key
        document = parse(text)
        entry = (text, document, validate(schema, document, rules))
        estimate = estimated_bytes(text, document)
        del text, document
        gc.collect()
        with_entry = tracemalloc.get_traced_memory()[0]
        del entry
        gc.collect()
        held = with_entry - tracemalloc.get_traced_memory()[0]  # what dropping it frees
    finally:
        tracemalloc.stop()
    assert held <= estimate
    assert estimate <= 3 * held + 8192
