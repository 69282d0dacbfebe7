"""The executable Strawberry schema and its hardening extensions.

Built once per application. Limits (documented in README.md, section API):

- depth: at most ``MAX_DEPTH`` nested selections, introspection included (GraphiQL's
  own introspection query needs 14; see ``gql.depth`` for why not QueryDepthLimiter);
- tokens: a document of more than ``MAX_TOKENS`` tokens is not even parsed;
- aliases: at most ``MAX_ALIASES`` per document;
- introspection: refused when INTROSPECTION is off;
- errors: outside DEBUG, unexpected errors reach the client as "Unexpected error." (they
  are logged in full); parse and validation errors and ``ApiError`` messages stay as they
  are, since they tell the client what to fix; a database outage is said as such, with
  code SERVICE_UNAVAILABLE, one past the request's timeouts with DATABASE_TIMEOUT (both
  logged as a warning).

The parser and validation caches are on. The validation rules are created once here and
shared by every request, so the validation cache (keyed by document and rules) hits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import strawberry
from graphql import ASTValidationRule, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from gql.config import AppConfig
from gql.depth import depth_rule
from gql.errors import RETRY_AFTER_SECONDS, ApiError, database_failure
from gql.resolvers import Mutation, Query

log = logging.getLogger(__name__)

MAX_DEPTH = 15
MAX_TOKENS = 5000
MAX_ALIASES = 30
CACHE_SIZE = 512


def is_client_error(error: GraphQLError) -> bool:
    """True for errors whose message is meant for the client.

    That is every error raised before execution (syntax, validation, variable coercion:
    they carry no path) and every ``ApiError`` raised by a resolver.
    """
    return error.path is None or isinstance(error.original_error, ApiError)


class KasparroSchema(strawberry.Schema):
    """Logs client errors briefly and unexpected ones with their traceback."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_client_error(error):
                log.info("graphql request refused: %s", error.message)
            elif (failure := database_failure(error.original_error)) is not None:
                log.warning(
                    "graphql at %s: %s (%s)",
                    ".".join(map(str, error.path or ())),
                    failure.message,
                    str(getattr(error.original_error, "orig", None) or error.original_error),
                )
            else:
                log.error(
                    "graphql resolver failed at %s: %s",
                    ".".join(map(str, error.path or ())),
                    error.message,
                    exc_info=error.original_error or error,
                )


def build_schema(
    config: AppConfig, extra: Sequence[Callable[[], SchemaExtension]] = ()
) -> strawberry.Schema:
    """The executable schema for ``config`` (extensions differ; the SDL never does).

    ``extra`` are extension factories added after the hardening ones (e.g. metrics).
    """
    rules: list[type[ASTValidationRule]] = [
        depth_rule(MAX_DEPTH),
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    if not config.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(rules),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
    ]
    if not config.debug:
        extensions.append(lambda: _MaskErrors(should_mask_error=_should_mask))
    extensions.extend(extra)
    return KasparroSchema(query=Query, mutation=Mutation, extensions=extensions)


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
