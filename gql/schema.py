"""The executable Strawberry schema and its hardening extensions.

Built once per application. Limits (documented in docs/api.md, section "Errors and limits";
each is a setting):

- size: a document over ``max_query_bytes`` is refused before it is parsed;
- variables: more values, deeper nesting or longer strings than MAX_VARIABLE_VALUES,
  MAX_VARIABLE_DEPTH and MAX_VARIABLE_STRING_CHARS allow are refused (a 400) before
  anything coerces them (``gql.variables``, checked by the view);
- tokens: a document of more than ``max_query_tokens`` tokens is not even parsed;
- validation (``gql.rules``): the specification's rules with a work budget for field
  merging, depth (at most ``max_query_depth`` nested selections, introspection included:
  GraphiQL's own introspection query needs 14; see ``gql.shape`` for why not
  QueryDepthLimiter), aliases (``max_query_aliases``), introspection refused when
  INTROSPECTION is off; each linear in the document;
- cost: an operation whose estimated cost (``gql.cost``) is over ``max_query_cost`` is
  refused before it executes;
- hints: with INTROSPECTION off, error messages name nothing of the schema the client did
  not write (``gql.hints``);
- errors: outside DEBUG, unexpected errors reach the client as "Unexpected error." (they
  are logged in full); parse and validation errors and ``ApiError`` messages stay as they
  are, since they tell the client what to fix; a database outage is said as such, with
  code SERVICE_UNAVAILABLE, one past the request's timeouts with DATABASE_TIMEOUT (both
  logged as a warning).

Parsed and validated documents are cached per application, bounded by bytes, and a
document not in the cache is parsed and validated in a worker thread
(``gql.documents``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types import ExecutionContext

from kasparro.gql.config import AppConfig
from kasparro.gql.cost import CostLimit, QueryCost
from kasparro.gql.documents import CachedDocuments, DocumentCache
from kasparro.gql.errors import RETRY_AFTER_SECONDS, ApiError, database_failure
from kasparro.gql.hints import HideSchemaHints
from kasparro.gql.live import Subscription
from kasparro.gql.resolvers import Mutation, Query
from kasparro.gql.rules import validation_rules
from kasparro.gql.variables import VariableLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Guards:
    """The per-application state of the hardening extensions."""

    documents: DocumentCache
    cost: QueryCost
    variables: VariableLimits

    @classmethod
    def for_config(cls, config: AppConfig) -> Guards:
        return cls(
            DocumentCache(config, validation_rules(config)),
            QueryCost(config),
            VariableLimits.for_config(config),
        )


def is_client_error(error: GraphQLError) -> bool:
    """True for errors whose message is meant for the client.

    That is every error raised before execution (syntax, validation, variable coercion:
    they carry no path) and every ``ApiError`` raised by a resolver.
    """
    return error.path is None or isinstance(error.original_error, ApiError)


class KasparroSchema(strawberry.Schema):
    """Logs a request's errors in at most three lines, whatever their number: the first
    client error in one brief line, the first database failure in one warning, the first
    unexpected error with its traceback (each line saying how many there were)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        refused = [error for error in errors if is_client_error(error)]
        failing = [
            (error, failure)
            for error in errors
            if not is_client_error(error)
            and (failure := database_failure(error.original_error)) is not None
        ]
        bugs = [
            error
            for error in errors
            if not is_client_error(error) and database_failure(error.original_error) is None
        ]
        if refused:
            log.info("graphql request refused%s: %s", _count(refused), refused[0].message)
        if failing:
            error, failure = failing[0]
            log.warning(
                "graphql at %s%s: %s (%s)",
                _path(error),
                _count(failing),
                failure.message,
                str(getattr(error.original_error, "orig", None) or error.original_error),
            )
        if bugs:
            log.error(
                "graphql resolver failed at %s%s: %s",
                _path(bugs[0]),
                _count(bugs),
                bugs[0].message,
                exc_info=bugs[0].original_error or bugs[0],
            )


def _path(error: GraphQLError) -> str:
    return ".".join(map(str, error.path or ()))


def _count(errors: Sized) -> str:
    """How many errors of its kind a log line stands for, when more than the one it shows
    (said first: a long message is cut at LOG_MAX_VALUE_CHARS)."""
    return f" (1 of {len(errors)} errors)" if len(errors) > 1 else ""


def build_schema(
    config: AppConfig,
    extra: Sequence[Callable[[], SchemaExtension]] = (),
    guards: Guards | None = None,
) -> strawberry.Schema:
    """The executable schema for ``config`` (extensions differ; the SDL never does).

    ``extra`` are extension factories added after the hardening ones (e.g. metrics, the
    compiled path); ``guards`` the state of the hardening ones (new when not given).
    """
    guards = guards or Guards.for_config(config)
    extensions: list[Callable[[], SchemaExtension]] = [
        functools.partial(CachedDocuments, guards.documents),
        functools.partial(CostLimit, guards.cost),
    ]
    if not config.introspection:
        extensions.append(HideSchemaHints)
    if not config.debug:
        extensions.append(lambda: _MaskErrors(should_mask_error=_should_mask))
    extensions.extend(extra)
    return KasparroSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )


def _should_mask(error: GraphQLError) -> bool:
    return not is_client_error(error)


class _MaskErrors(MaskErrors):
    """Masks unexpected errors, except that a failing database is said as such (code
    SERVICE_UNAVAILABLE or DATABASE_TIMEOUT, as REST's 503 or 504, with ``retryAfter`` in
    seconds), so clients can tell it from a bug and retry."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        failure = database_failure(error.original_error)
        if failure is None:
            return super().anonymise_error(error)
        return GraphQLError(
            message=failure.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": failure.code, "retryAfter": RETRY_AFTER_SECONDS},
        )
