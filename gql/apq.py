"""Automatic persisted queries (Apollo's APQ protocol), over POST and GET.

A client sends ``extensions: {"persistedQuery": {"version": 1, "sha256Hash": H}}``:

- without ``query``: the query stored under ``H`` runs; when none is stored, the answer is
  the error ``PersistedQueryNotFound`` (code ``PERSISTED_QUERY_NOT_FOUND``) and the client
  sends the request again with the query;
- with ``query``: its SHA-256 must be ``H`` (else ``PERSISTED_QUERY_HASH_MISMATCH``); it is
  stored and runs. A query is only ever stored under its own hash, so a client cannot make
  another client's hash run a different query.

Hashed GET requests (``?extensions=…`` with no ``query``) keep URLs short and the same for
the same operation, so a CDN can cache them (``gql.httpcache``). The store is a
``gql.lru.ByteLRU`` of APQ_CACHE_BYTES (0 turns APQ off: every hash is then not found, and
clients fall back to sending the query each time); a query longer than MAX_QUERY_BYTES is
not stored (the document cache refuses it anyway).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from kasparro.gql.documents import text_bytes, utf8_length
from kasparro.gql.lru import ByteLRU
from kasparro.gql.transport import Operation, OperationError, RequestError

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
"""The message Apollo's PersistedQueryLink recognises (besides the code)."""
MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"


class PersistedQueries:
    """The queries stored by hash, least recently used out first."""

    def __init__(self, max_bytes: int, max_query_bytes: int) -> None:
        self.cache: ByteLRU[str, str] = ByteLRU(max_bytes)
        self._max_query_bytes = max_query_bytes

    def resolve(self, operation: Operation) -> Operation:
        """``operation`` with the query it names by hash; ``RequestError`` when the hash is
        unknown, malformed or not the query's."""
        wanted = _hash_of(operation.extensions)
        if wanted is None:
            return operation
        if operation.query is None:
            stored = self.cache.get(wanted)
            if stored is None:
                raise OperationError(NOT_FOUND_MESSAGE, code=NOT_FOUND)
            return Operation(stored, operation.variables, operation.operation_name, None)
        actual = hashlib.sha256(operation.query.encode("utf-8", "surrogatepass")).hexdigest()
        if actual != wanted:
            raise RequestError(
                "persistedQuery.sha256Hash is not the SHA-256 of the query sent "
                f"(which is {actual}); send the hash of the query's UTF-8 text",
                code=MISMATCH,
            )
        if utf8_length(operation.query) <= self._max_query_bytes:
            self.cache.put(wanted, operation.query, text_bytes(operation.query))
        return operation


def _hash_of(extensions: Mapping[str, Any] | None) -> str | None:
    """The requested hash (lower-case hex), None when the request does not use APQ."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise RequestError(
            'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<64 hex digits>"}'
        )
    digest = persisted.get("sha256Hash")
    if (
        not isinstance(digest, str)
        or len(digest) != 64
        or any(c not in "0123456789abcdefABCDEF" for c in digest)
    ):
        raise RequestError("extensions.persistedQuery.sha256Hash must be 64 hex digits")
    return digest.lower()
