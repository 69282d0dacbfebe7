"""Errors whose message is safe to show to a client.

    ApiError                 message for the client, HTTP status, GraphQL extensions code
    ├── BadInput             400  BAD_USER_INPUT   a bad filter, cursor, date, limit, source,
    │                                              text that is not UTF-8 or Unicode
    ├── QueryTooLarge        400  QUERY_TOO_LARGE  a GraphQL document over MAX_QUERY_BYTES
    ├── QueryTooCostly       400  QUERY_TOO_COSTLY a GraphQL operation over MAX_QUERY_COST
    ├── Unauthorized         401  UNAUTHENTICATED  missing or wrong admin token
    ├── Forbidden            403  FORBIDDEN        the action is switched off on this server
    └── Conflict             409  CONFLICT         the ETL could not run now (e.g. lock held)

REST shims turn them into ``{"error": message, "request_id": ...}`` with the status;
GraphQL returns the message and ``extensions.code`` unmasked (a document refused before it
runs, as the QUERY_TOO_* ones are, is answered like a validation error: HTTP 200, ``data``
null). A database outage (see ``is_database_outage``) is no bug either: REST answers 503
and GraphQL an error with code ``SERVICE_UNAVAILABLE``, both with ``DATABASE_UNAVAILABLE``
as the message. Any other exception is a bug: it is logged with its traceback and the
client sees only a generic message.
"""

from __future__ import annotations

import sqlite3
from typing import ClassVar

import sqlalchemy.exc

DATABASE_UNAVAILABLE = "database unavailable; try again later"
# SQLite says OperationalError for a missing table too (a bug, not an outage); these are not.
_SQLITE_OUTAGES = ("unable to open database", "database is locked", "disk i/o error")


def is_database_outage(exc: BaseException | None) -> bool:
    """True when ``exc`` means the database cannot be reached now (connection refused or
    lost, server shutting down, no pooled connection within the pool timeout; for SQLite
    a file that cannot be opened, stays locked or fails to read)."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return True
    if not isinstance(exc, sqlalchemy.exc.OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        return str(exc.orig).lower().startswith(_SQLITE_OUTAGES)
    return True


class ApiError(Exception):
    """A failure caused by the request, explained in words the client can act on."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # graphql-core copies an ``extensions`` dict from the original error.
        self.extensions = {"code": self.code}


class BadInput(ApiError):
    """An argument or query parameter has a value the service cannot use."""

    status = 400
    code = "BAD_USER_INPUT"


class QueryTooLarge(ApiError):
    """A GraphQL document longer than MAX_QUERY_BYTES: refused before it is parsed."""

    status = 400
    code = "QUERY_TOO_LARGE"


class QueryTooCostly(ApiError):
    """A GraphQL operation whose estimated cost is over MAX_QUERY_COST: refused before it
    runs (``gql.cost``)."""

    status = 400
    code = "QUERY_TOO_COSTLY"


class Unauthorized(ApiError):
    """The admin token is missing or wrong."""

    status = 401
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    """The action is disabled by the server's settings."""

    status = 403
    code = "FORBIDDEN"


class Conflict(ApiError):
    """The action cannot happen now; trying again later may work."""

    status = 409
    code = "CONFLICT"
