"""Errors whose message is safe to show to a client.

    ApiError                 message for the client, HTTP status, GraphQL extensions code
    ├── BadInput             400  BAD_USER_INPUT      a bad filter, cursor, date, limit, source,
    │                                                 text that is not UTF-8 or Unicode
    ├── QueryTooLarge        400  QUERY_TOO_LARGE     a GraphQL document over MAX_QUERY_BYTES
    ├── QueryTooCostly       400  QUERY_TOO_COSTLY    a GraphQL operation over MAX_QUERY_COST
    ├── Unauthorized         401  UNAUTHENTICATED     missing or wrong admin token
    ├── Forbidden            403  FORBIDDEN           the action is switched off on this server
    ├── Conflict             409  CONFLICT            the ETL could not run now (e.g. lock held)
    └── Unavailable          503  SERVICE_UNAVAILABLE the server cannot do it now (shutting
                                                      down; a run's outcome not yet recorded);
                                                      sent with Retry-After

REST shims turn them into ``{"error": message, "request_id": ...}`` with the status;
GraphQL returns the message and ``extensions.code`` unmasked (a document refused before it
runs, as the QUERY_TOO_* ones are, is answered like a validation error, without ``data``:
``gql.view``). A database that fails (see ``database_failure``) is no bug either: one that cannot be
reached is a 503 (GraphQL code ``SERVICE_UNAVAILABLE``, message ``DATABASE_UNAVAILABLE``),
one that does not answer within the request's timeouts a 504 (``DATABASE_TIMEOUT``), both
with ``Retry-After`` (GraphQL: ``extensions.retryAfter``). Any other exception is a bug: it
is logged with its traceback and the client sees only a generic message.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from kasparro.db.engine import is_timeout, is_unavailable

DATABASE_UNAVAILABLE = "database unavailable; try again later"
DATABASE_TIMEOUT = "database did not answer in time; try again later"
RETRY_AFTER_SECONDS = 5
"""``Retry-After`` sent with a 503 or 504 caused by the database."""


class DatabaseFailure(NamedTuple):
    """How a failing database is answered: HTTP status, GraphQL code, message."""

    status: int
    code: str
    message: str


TIMED_OUT = DatabaseFailure(504, "DATABASE_TIMEOUT", DATABASE_TIMEOUT)
UNREACHABLE = DatabaseFailure(503, "SERVICE_UNAVAILABLE", DATABASE_UNAVAILABLE)


def database_failure(exc: BaseException | None) -> DatabaseFailure | None:
    """``TIMED_OUT`` when ``exc`` is a statement, lock or pool wait past its timeout,
    ``UNREACHABLE`` when the database cannot be reached now (connection refused or lost,
    server shutting down; for SQLite a file that cannot be opened or read), else None
    (``db.engine.is_timeout`` / ``is_unavailable``)."""
    if is_timeout(exc):
        return TIMED_OUT
    return UNREACHABLE if is_unavailable(exc) else None


class ApiError(Exception):
    """A failure caused by the request, explained in words the client can act on."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # graphql-core copies an ``extensions`` dict from the original error.
        self.extensions: dict[str, object] = {"code": self.code}


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


class TooManySubscriptions(ApiError):
    """A subscription past SUBSCRIPTION_MAX_PER_PROCESS: the client should try later or
    another replica."""

    status = 429
    code = "TOO_MANY_SUBSCRIPTIONS"


class Unavailable(ApiError):
    """The server cannot do it now (it is shutting down, or the database refuses); the
    client should try again after ``RETRY_AFTER_SECONDS``."""

    status = 503
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.extensions = {"code": self.code, "retryAfter": RETRY_AFTER_SECONDS}
