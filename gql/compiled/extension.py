"""The seam: a schema extension that answers compiled operations in ``on_execute``.

Strawberry runs ``on_execute`` after parsing and validation (with the schema's caches
and hardening rules) and skips graphql-core's executor when an extension has already
put a result on the execution context (the documented way to serve cached results).
Everything around execution is therefore untouched: operation metrics, error masking,
the response's JSON encoding and HTTP handling. When the extension puts nothing there,
the operation runs normally. Later requests for an operation that has a plan are answered
by the view directly (``gql.compiled.fastpath``), through the same ``serve``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    get_argument_values,
    get_variable_values,
    located_error,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from sqlalchemy.exc import SQLAlchemyError
from strawberry.extensions import SchemaExtension

from kasparro.gql import filters
from kasparro.gql.compiled.build import (
    Mismatch,
    read_and_build,
    read_and_encode,
)
from kasparro.gql.compiled.collect import Unsupported
from kasparro.gql.compiled.plan import Plan, compile_plan
from kasparro.gql.compiled.seam import graphql_schema, python_arguments
from kasparro.gql.config import AppConfig
from kasparro.gql.context import Context
from kasparro.gql.dbcall import run_db
from kasparro.gql.documents import document_text, estimated_bytes, text_bytes
from kasparro.gql.errors import ApiError, database_failure
from kasparro.gql.filters import PricesRequest, RecordsRequest
from kasparro.gql.lru import ByteLRU

log = logging.getLogger(__name__)


class PlanCache:
    """Plans by (query key, operation name), least recently used first out, bounded by the
    estimated bytes they hold (a plan keeps its whole parsed document alive; see
    ``gql.documents.estimated_bytes``).

    The key of a query text is what ``key`` says: the application's
    ``DocumentCache.key_of`` (its normalized text, so the same document padded otherwise
    finds the same plan), else the text itself; ``get`` looks only for a key already known
    (``known``), so a text never seen costs nothing there. Documents that cannot be compiled are
    remembered too (as ``None``, weighed by their text), so each distinct operation is
    compiled once until it is evicted. One cache per application, of GRAPHQL_CACHE_BYTES.
    """

    def __init__(
        self,
        max_bytes: int,
        key: Callable[[str], str] = str,
        known: Callable[[str], str | None] = str,
    ) -> None:
        self.compilations = 0
        """How many times an operation was compiled (cache misses)."""
        self.cache: ByteLRU[tuple[str, str | None], Plan | None] = ByteLRU(max_bytes)
        self._key = key
        self._known = known

    @property
    def size(self) -> int:
        """How many entries the cache holds (a plan, or None for "execute normally")."""
        return len(self.cache)

    def get(self, query: str, operation_name: str | None) -> Plan | None:
        """The plan held for this query and ``operationName`` as sent, if any (no compiling).

        Only a document that has passed parsing and validation ever gets a plan.
        """
        found = self._known(query)
        return None if found is None else self.cache.get((found, operation_name))

    def plan(
        self,
        schema: strawberry.Schema,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
    ) -> Plan | None:
        """The cached plan, compiling it on a miss; None when the operation has none."""
        key = (self._key(query), operation_name)
        if key in self.cache:
            return self.cache.get(key)
        self.compilations += 1
        try:
            plan: Plan | None = compile_plan(schema, document, operation_name)
        except Unsupported as reason:
            log.debug("graphql operation %s runs normally: %s", operation_name, reason)
            plan = None
        text = document_text(document)
        size = estimated_bytes(text, document) if plan is not None else text_bytes(text)
        self.cache.put(key, plan, size)
        if plan is not None and operation_name is not None:
            # A document of this one operation runs it without operationName too (with
            # several, a request without the name is refused before this cache is asked).
            operations = [
                node for node in document.definitions if isinstance(node, OperationDefinitionNode)
            ]
            if len(operations) == 1:
                self.cache.put((key[0], None), plan, size)
        return plan


class CompiledExecution(SchemaExtension):
    """Serves operations that have a plan straight from ``db.queries`` rows.

    Strawberry builds one per request from ``functools.partial(CompiledExecution, plans)``.
    """

    def __init__(self, plans: PlanCache) -> None:
        super().__init__()
        self._plans = plans

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if execution.result is None:
            execution.result = await self._serve()
        yield

    async def _serve(self) -> GraphQLExecutionResult | None:
        execution = self.execution_context
        if execution.query is None or execution.graphql_document is None:
            return None
        plan = self._plans.plan(
            execution.schema, execution.query, execution.graphql_document, execution.operation_name
        )
        if plan is None:
            return None
        context = execution.context
        try:
            failed = context.database_failure if isinstance(context, Context) else None
            if failed is not None:  # met by the view's shortcut for this very request
                raise failed
            data = await serve(plan, execution.schema, context, execution.variables)
        except SQLAlchemyError as exc:
            # The resolver would meet (and wait for) the same failure: report it as it would.
            key = (plan.field.alias or plan.field.name).value
            return GraphQLExecutionResult(
                data=None, errors=[located_error(exc, [plan.field], [key])]
            )
        return None if data is None else GraphQLExecutionResult(data=data, errors=None)


async def serve(
    plan: Plan,
    schema: strawberry.Schema,
    context: object,
    variables: dict[str, Any] | None,
    *,
    encoded: bool = False,
) -> dict[str, Any] | None:
    """The ``data`` of the answer, or None where normal execution must answer instead.

    A failing database (``gql.errors.database_failure``: unreachable, or past the request's
    timeouts) is raised: normal execution would only meet it again, after waiting as long.
    ``encoded``: as an ``EncodedData`` JSON text, for a caller that writes the response itself.
    """
    if not isinstance(context, Context):
        return None
    request = _request(plan, schema, variables, context.config)
    if request is None:
        return None
    try:
        build = read_and_encode if encoded else read_and_build
        return await run_db(context.read_engine, build, plan, request, context.prices)
    except SQLAlchemyError as exc:
        if database_failure(exc) is not None:
            raise
        return None  # normal execution meets the same failure and reports it its way
    except Mismatch:
        return None  # normal execution meets the same value and reports it its way
    except Exception:  # a defect here must not change the answer: log it, run normally
        log.exception("compiled execution failed; executing the operation normally")
        return None


def _request(
    plan: Plan,
    schema: strawberry.Schema,
    variables: dict[str, Any] | None,
    config: AppConfig,
) -> RecordsRequest | PricesRequest | None:
    """What the resolver would read, or None where it would report an error."""
    coerced = get_variable_values(
        graphql_schema(schema), plan.operation.variable_definitions or (), variables or {}
    )
    if isinstance(coerced, list):  # coercion errors
        return None
    try:
        values = get_argument_values(plan.field_def, plan.field, coerced)
        arguments = python_arguments(schema, "Query", plan.root_field, values)
        if plan.root_field == "latestPrices":
            return filters.prices_request(**arguments)
        return filters.records_request(
            **arguments, default_size=config.default_page_size, max_size=config.max_page_size
        )
    except (GraphQLError, ApiError):
        return None
