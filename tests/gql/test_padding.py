"""Comments and padding do not make a document new (``gql.documents.normalized``).

Before: a document padded with comments or whitespace up to MAX_QUERY_BYTES was a new
cache entry, parsed and validated again (and compiled again) for each distinct padding;
300 paddings of one query were 300 entries. Now they are one entry, parsed once, whatever
the padding; /health meanwhile is measured by ``bench/bench_hostile_requests.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from graphql.language import Lexer, Source, TokenKind
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.gql.documents import normalized
from tests.conftest import make_settings
from tests.gql.compiled.conftest import graphql_app
from tests.gql.store import Store

CACHE_BYTES = 4 * 1024 * 1024


def tokens(text: str) -> list[tuple[TokenKind, str | None]]:
    lexer = Lexer(Source(text))
    found: list[tuple[TokenKind, str | None]] = []
    while (token := lexer.advance()).kind is not TokenKind.EOF:
        found.append((token.kind, token.value))
    return found


TOKENS = st.sampled_from(
    ["{", "}", "(", ")", "[", "]", ":", "$", "!", "=", "@", "|", "&", "...", "query", "x",
     "records", "first", "1", "-2.5e3", '"a  b"', '"#not a comment"', '"q\\"  #"', '""',
     '"""block\n  "text" \\""" #"""', '""""""', '"\\\\"', '"\\u00e9 ,"'],
)  # fmt: skip
PADDING = st.lists(
    st.sampled_from([" ", "  ", "\t", "\n", "\r\n", ",", "\ufeff", "# comment\n", "#\n"]),
    min_size=1,
    max_size=4,
).map("".join)


@settings(max_examples=400, derandomize=True)
@given(st.lists(st.tuples(TOKENS, PADDING), min_size=1, max_size=30), PADDING, PADDING)
def test_padding_changes_nothing_but_the_text(
    parts: list[tuple[str, str]], before: str, after: str
) -> None:
    plain = " ".join(token for token, _ in parts)
    padded = before + "".join(token + gap for token, gap in parts) + after
    assert normalized(padded) == normalized(plain) == plain
    # The key keeps every token as it was: texts with other tokens have other keys.
    assert tokens(normalized(padded)) == tokens(padded)


@pytest.fixture
def small_cache(database_url: str, store: Store) -> Iterator[TestClient]:
    settings = make_settings(database_url, GRAPHQL_CACHE_BYTES=str(CACHE_BYTES))
    with TestClient(create_app(settings.app_config())) as client:
        yield client


QUERY = "query Two { records(first: 2) { nodes { source recordId } } }"


def padded(n: int) -> str:
    if n % 2:
        return f"# {n}\n" + QUERY.replace(" ", f"\n# padding {n}\n" + " " * 200) + "#" * 50_000
    return " " * n + QUERY.replace(" ", "\t,\n" + " " * (n % 500)) + "\n" * 60_000


@pytest.mark.slow
def test_distinct_paddings_are_one_entry_parsed_once(small_cache: TestClient) -> None:
    app = graphql_app(small_cache)
    documents = app.guards.documents
    expected = small_cache.post("/graphql", json={"query": QUERY}).json()
    assert len(expected["data"]["records"]["nodes"]) == 2
    assert documents.parsed == 1
    for n in range(300):
        query = padded(n)
        assert 50_000 < len(query) < 65_536
        assert small_cache.post("/graphql", json={"query": query}).json() == expected
        assert documents.cache.bytes + documents.keys.bytes <= CACHE_BYTES
    assert documents.parsed == 1
    assert len(documents.cache) == 1
    assert app.plans is not None and app.plans.compilations == 1
    # The texts' keys take at most their share, the oldest out first.
    assert documents.keys.bytes <= CACHE_BYTES // 4
    assert documents.known_key(padded(299)) == QUERY
    assert documents.known_key(padded(0)) is None


def test_an_invalid_document_keeps_its_own_locations(small_cache: TestClient) -> None:
    documents = graphql_app(small_cache).guards.documents
    # The padded text first: the plain one (its normalized text) must not get its errors.
    for lines in (3, 0, 7, 7):
        query = "\n" * lines + "{ health { dbz } }"
        error = small_cache.post("/graphql", json={"query": query}).json()["errors"][0]
        assert error["message"].startswith("Cannot query field 'dbz' on type 'Health'.")
        assert error["locations"] == [{"line": lines + 1, "column": 12}]
    # Checked once per distinct text, each kept with its own errors (the plain text's
    # under its normalized text: itself).
    assert documents.parsed == 3
    assert len(documents.cache) == 2
