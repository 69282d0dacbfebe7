"""Parsing and validation of GraphQL documents: size-limited, cached by bytes, off the loop.

One ``DocumentCache`` per application replaces Strawberry's ParserCache, ValidationCache,
MaxTokensLimiter and AddValidationRules (whose caches are module-level LRUs counted in
entries, shared by every schema of the process):

- a document longer than ``max_query_bytes`` (UTF-8) is refused before it is parsed
  (``QueryTooLarge``); one of more than ``max_query_tokens`` tokens stops the parser;
- a document not in the cache is parsed and validated (``gql.rules``): on the event loop
  when it is at most ``INLINE_BYTES`` long (a few milliseconds at most; GraphiQL's
  introspection query is 1.6 KB), else in a worker thread, one at a time, so a large
  document never holds the loop, and a flood of them waits for that one thread without
  delaying small documents or taking the threads the database calls use;
- the result (the document and its validation errors) is kept by query text in a
  ``gql.lru.ByteLRU`` of ``graphql_cache_bytes``, each entry weighed by
  ``estimated_bytes``.

``CachedDocuments`` is the per-request schema extension that plugs it into Strawberry:
``on_parse`` puts the document on the execution context, ``on_validate`` its errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from anyio import to_thread
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension

from kasparro.gql.compiled.seam import graphql_schema, validate_document
from kasparro.gql.config import AppConfig
from kasparro.gql.errors import QueryTooLarge
from kasparro.gql.lru import ByteLRU
from kasparro.gql.rules import explained
from kasparro.gql.threads import LoopLimiters

INLINE_BYTES = 2048
"""Documents up to this size are parsed and validated on the event loop."""
PARSE_THREADS = 1
"""Larger documents parsed and validated at once (threads compete for the interpreter's
lock with the event loop: one keeps /health's wait shortest)."""

TOKEN_BYTES = 700
"""Memory one token of a parsed document holds: its token, AST node, name and location
(measured up to 610 bytes with tracemalloc; tests/gql/test_documents.py checks it)."""
BASE_BYTES = 2048


@dataclass(frozen=True, slots=True)
class Checked:
    """A parsed document and what validating it found (empty when it is valid)."""

    document: DocumentNode
    errors: tuple[GraphQLError, ...]


def utf8_length(text: str) -> int:
    """Bytes of ``text`` in UTF-8."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def token_count(document: DocumentNode) -> int:
    """Tokens the parsed ``document`` keeps (they stay linked from its locations)."""
    count = 0
    token = document.loc.start_token if document.loc is not None else None
    while token is not None:
        count += 1
        token = token.next
    return count


def estimated_bytes(query: str, document: DocumentNode) -> int:
    """Memory a cached ``document`` and its ``query`` text hold: its tokens and nodes, the
    text, and the values copied out of it (string literals)."""
    return BASE_BYTES + TOKEN_BYTES * token_count(document) + 2 * utf8_length(query)


def text_bytes(query: str) -> int:
    """Memory a cache entry holding only the ``query`` text (as a key) takes."""
    return BASE_BYTES + utf8_length(query)


class DocumentCache:
    """Parsed and validated documents of one application, by query text."""

    def __init__(self, config: AppConfig, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self._max_bytes = config.max_query_bytes
        self._max_tokens = config.max_query_tokens
        self._rules = rules
        self._limiter = LoopLimiters(PARSE_THREADS)
        self.cache: ByteLRU[str, Checked] = ByteLRU(config.graphql_cache_bytes)

    async def checked(self, schema: GraphQLSchema, query: str) -> Checked:
        """``query`` parsed and validated against ``schema``; raise ``GraphQLError`` when it
        is too large or does not parse."""
        found = self.cache.get(query)
        if found is not None:
            return found
        size = utf8_length(query)
        if size > self._max_bytes:
            message = (
                f"document too large: {size} bytes, over the limit of {self._max_bytes} "
                "(MAX_QUERY_BYTES); send a shorter document (variables for long values)"
            )
            raise GraphQLError(message, original_error=QueryTooLarge(message))
        if size <= INLINE_BYTES:
            checked, weight = self._check(schema, query)
        else:
            checked, weight = await to_thread.run_sync(
                self._check, schema, query, limiter=self._limiter()
            )
        self.cache.put(query, checked, weight)
        return checked

    def _check(self, schema: GraphQLSchema, query: str) -> tuple[Checked, int]:
        document = parse(query, max_tokens=self._max_tokens)
        errors = explained(validate_document(schema, document, self._rules))
        return Checked(document, tuple(errors)), estimated_bytes(query, document)


class CachedDocuments(SchemaExtension):
    """Parse and validate through the application's ``DocumentCache``.

    Built per request from ``functools.partial(CachedDocuments, documents)``.
    """

    def __init__(self, documents: DocumentCache) -> None:
        super().__init__()
        self._documents = documents
        self._checked: Checked | None = None

    async def on_parse(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if execution.query and execution.graphql_document is None:
            self._checked = await self._documents.checked(
                graphql_schema(execution.schema), execution.query
            )
            execution.graphql_document = self._checked.document
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if self._checked is not None and execution.pre_execution_errors is None:
            execution.pre_execution_errors = list(self._checked.errors)
        yield
