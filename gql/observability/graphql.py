"""A Strawberry schema extension that counts and times every GraphQL operation.

The label is the operation's name when the document names it and it exists there,
``anonymous`` when the operation is unnamed, ``unknown`` when there is no operation to name
(a syntax error, or an ``operationName`` the document does not define). The name is also
put in ``request.state.graphql_operation`` (``scope["state"]``) for the access log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import GraphQLError
from starlette.requests import HTTPConnection
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from kasparro.gql.observability.instruments import GraphQLMetrics

STATE_KEY = "graphql_operation"


def _operation(execution_context: ExecutionContext) -> tuple[str, str]:
    """(name, type) of the operation that runs, or ("unknown", "unknown")."""
    try:
        kind = execution_context.operation_type.value
    except RuntimeError:  # no document, or no operation by the requested name
        return "unknown", "unknown"
    return execution_context.operation_name or "anonymous", kind


def _errors(execution_context: ExecutionContext) -> list[GraphQLError]:
    found = execution_context.pre_execution_errors
    if not found and execution_context.result is not None:
        found = execution_context.result.errors
    return list(found or ())


def _remember(execution_context: ExecutionContext, name: str) -> None:
    context = execution_context.context
    request = (
        context.get("request") if isinstance(context, dict) else getattr(context, "request", None)
    )
    if isinstance(request, HTTPConnection):
        request.state.graphql_operation = name  # read back as scope["state"][STATE_KEY]


class GraphQLMetricsExtension(SchemaExtension):
    """Records one ``kasparro_graphql_operations_total`` sample per operation, with its time.

    Built per request by the factory ``Observability.graphql_extension()`` returns.
    """

    def __init__(self, metrics: GraphQLMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        ok = False
        try:
            yield
            ok = not _errors(self.execution_context)
        finally:
            name, kind = _operation(self.execution_context)
            if kind != "unknown":
                _remember(self.execution_context, name)
            self._metrics.observe(name, kind, ok, time.perf_counter() - started)
