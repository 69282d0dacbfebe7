"""Parsing and validation of GraphQL documents: size-limited, cached by bytes, off the loop.

One ``DocumentCache`` per application replaces Strawberry's ParserCache, ValidationCache,
MaxTokensLimiter and AddValidationRules (whose caches are module-level LRUs counted in
entries, shared by every schema of the process):

- a document longer than ``max_query_bytes`` (UTF-8) is refused before it is parsed
  (``QueryTooLarge``); one of more than ``max_query_tokens`` tokens (comments included)
  stops the parser;
- a document not in the cache is parsed and validated (``gql.rules``): on the event loop
  when it is at most ``INLINE_BYTES`` long (a few milliseconds at most; GraphiQL's
  introspection query is 1.6 KB), else in a worker thread, one at a time, so a large
  document never holds the loop, and a flood of them waits for that one thread without
  delaying small documents or taking the threads the database calls use;
- the result (the document and its validation errors) is kept in a ``gql.lru.ByteLRU`` of
  ``graphql_cache_bytes``, each entry weighed by ``estimated_bytes`` of the whole text
  (padding included), under the document's ``normalized`` text: comments and the padding
  between tokens do not make a new entry. A text seen before is mapped to its key by a
  second ``ByteLRU`` (a quarter of the bytes), so a repeated request computes nothing.

So a document padded with comments or whitespace up to MAX_QUERY_BYTES, sent with a new
padding each time, is parsed and validated once while its entry lasts: the other
paddings find it by their normalized text (a C regular expression over the text, in the
worker thread when the text is large). A padded copy of a valid document is executed
with the document first parsed, so the ``locations`` of execution errors are those of
that text; an invalid one is checked again (its errors' locations are its own) and kept
under its own text.

``CachedDocuments`` is the per-request schema extension that plugs it into Strawberry:
``on_parse`` puts the document on the execution context, ``on_validate`` its errors.
"""

from __future__ import annotations

import re
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
KEYS_SHARE = 4
"""The map from texts to their normalized keys holds 1/4 of GRAPHQL_CACHE_BYTES, the
documents the rest."""

_IGNORED = r"(?:[ \t\n\r,\ufeff]+|#[^\n\r]*)+"
"""What the GraphQL lexer skips between tokens: white space, line ends, commas, a byte order
mark, comments (Python's ``\\s`` would also take spaces GraphQL does not ignore)."""
_PADDING = re.compile(_IGNORED)
_STRING_OR_PADDING = re.compile(
    r'("""(?:\\"""|[^"]|"(?!""))*"""|"(?:[^"\\\n\r]|\\.)*")|' + _IGNORED
)


@dataclass(frozen=True, slots=True)
class Checked:
    """A parsed document and what validating it found (empty when it is valid)."""

    document: DocumentNode
    errors: tuple[GraphQLError, ...]

    @property
    def text(self) -> str:
        """The text the document was parsed from."""
        return document_text(self.document)


def document_text(document: DocumentNode) -> str:
    """The text ``document`` was parsed from (and keeps)."""
    return document.loc.source.body if document.loc is not None else ""


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


def normalized(query: str) -> str:
    """``query`` with comments dropped and each run of what the lexer ignores as one space,
    string literals untouched: texts with the same tokens in the same order and the same
    gaps between tokens map to one text, and a text with single spaces maps to itself.
    Linear; without string literals, one C regular expression."""
    if '"' not in query:
        return _PADDING.sub(" ", query).strip(" ")
    return _STRING_OR_PADDING.sub(_kept_string, query).strip(" ")


def _kept_string(match: re.Match[str]) -> str:
    return match.group(1) or " "


def text_bytes(query: str) -> int:
    """Memory a cache entry holding only the ``query`` text (as a key) takes."""
    return BASE_BYTES + utf8_length(query)


class DocumentCache:
    """Parsed and validated documents of one application, by normalized query text."""

    def __init__(self, config: AppConfig, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self._max_bytes = config.max_query_bytes
        self._max_tokens = config.max_query_tokens
        self._rules = rules
        self._limiter = LoopLimiters(PARSE_THREADS)
        keys_bytes = config.graphql_cache_bytes // KEYS_SHARE
        self.cache: ByteLRU[str, Checked] = ByteLRU(config.graphql_cache_bytes - keys_bytes)
        """Documents by their normalized text."""
        self.keys: ByteLRU[str, str] = ByteLRU(keys_bytes)
        """Normalized texts by the text as sent (when they differ)."""
        self.parsed = 0
        """How many texts were parsed (and validated)."""

    def known_key(self, query: str) -> str | None:
        """The normalized text of ``query`` if it has been computed and kept (no work)."""
        return query if query in self.cache else self.keys.get(query)

    def key_of(self, query: str) -> str:
        """The normalized text of ``query``: the one kept, else computed here (on the
        caller's thread; milliseconds at MAX_QUERY_BYTES)."""
        found = self.known_key(query)
        return normalized(query) if found is None else found

    def holds(self, query: str) -> bool:
        """Whether the document of ``query`` (or of a text like it) is in the cache."""
        key = self.known_key(query)
        return key is not None and key in self.cache

    async def key(self, query: str) -> str:
        """The normalized text of ``query``, computed in a worker thread when it is large."""
        found = self.known_key(query)
        if found is not None:
            return found
        if utf8_length(query) <= INLINE_BYTES:
            key = normalized(query)
        else:
            key = await to_thread.run_sync(normalized, query, limiter=self._limiter())
        if key != query:
            self.keys.put(query, key, text_bytes(query) + utf8_length(key))
        return key

    async def checked(self, schema: GraphQLSchema, query: str) -> Checked:
        """``query`` parsed and validated against ``schema``; raise ``GraphQLError`` when it
        is too large or does not parse."""
        size = utf8_length(query)
        if size > self._max_bytes:
            message = (
                f"document too large: {size} bytes, over the limit of {self._max_bytes} "
                "(MAX_QUERY_BYTES); send a shorter document (variables for long values)"
            )
            raise GraphQLError(message, original_error=QueryTooLarge(message))
        found = self.cache.get(query)  # its own entry, or the entry of its normalized text
        key = query if found is not None else await self.key(query)
        if found is None:
            found = self.cache.get(key)
        if found is not None and (not found.errors or found.text == query):
            return found
        if size <= INLINE_BYTES:
            checked, weight = self._check(schema, query)
        else:
            checked, weight = await to_thread.run_sync(
                self._check, schema, query, limiter=self._limiter()
            )
        if found is None:
            self.cache.put(key, checked, weight + (utf8_length(key) if key != query else 0))
        else:  # an invalid document padded otherwise: its errors hold its own locations
            self.cache.put(query, checked, weight)
        return checked

    def _check(self, schema: GraphQLSchema, query: str) -> tuple[Checked, int]:
        self.parsed += 1
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
