"""The view's shortcut for operations that already have a plan.

A plan exists only for a query text and operation that have passed parsing and validation
(and the hardening rules), and those results never change for the same text: the rules
are fixed per application. So when a request names a planned operation, the view can
answer it without Strawberry's per-request extension machinery, recording the operation
metric exactly as ``GraphQLMetricsExtension`` does. That is only sound while every
extension of the schema is one whose effect on such a request is known (none, or the
metric); ``PlanShortcut.for_schema`` returns None for a schema with any other extension,
and then every request goes through ``schema.execute``.
"""

from __future__ import annotations

import time

import strawberry
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from strawberry.extensions import MaskErrors
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from kasparro.gql.compiled.extension import CompiledExecution, PlanCache, serve
from kasparro.gql.compiled.seam import graphql_schema
from kasparro.gql.context import Context
from kasparro.gql.cost import CostLimit, QueryCost
from kasparro.gql.documents import CachedDocuments
from kasparro.gql.hints import HideSchemaHints
from kasparro.gql.observability.graphql import STATE_KEY, GraphQLMetricsExtension
from kasparro.gql.observability.instruments import GraphQLMetrics

KNOWN_EXTENSIONS = frozenset(
    {
        CachedDocuments,
        CostLimit,
        HideSchemaHints,
        MaskErrors,
        GraphQLMetricsExtension,
        CompiledExecution,
    }
)
"""Extensions (or subclasses: ``gql.schema`` refines how MaskErrors words an outage) that do
nothing to a valid query answered without errors, except count it, and ``CostLimit``, whose
check the shortcut makes itself (the cost depends on the variables)."""


class PlanShortcut:
    """Answers requests for planned operations; None means: execute normally."""

    def __init__(
        self,
        schema: strawberry.Schema,
        plans: PlanCache,
        metrics: GraphQLMetrics,
        cost: QueryCost,
    ) -> None:
        self._schema = schema
        self._plans = plans
        self._metrics = metrics
        self._cost = cost
        self.answered = 0
        """How many requests this shortcut has answered."""

    @classmethod
    def for_schema(
        cls,
        schema: strawberry.Schema,
        plans: PlanCache,
        metrics: GraphQLMetrics,
        cost: QueryCost,
    ) -> PlanShortcut | None:
        """The shortcut, if every extension of ``schema`` is in ``KNOWN_EXTENSIONS``."""
        known = tuple(KNOWN_EXTENSIONS)
        if not all(isinstance(extension, known) for extension in schema.get_extensions()):
            return None
        return cls(schema, plans, metrics, cost)

    async def execute(
        self, request: Request, context: Context, data: GraphQLRequestData
    ) -> ExecutionResult | None:
        """The result of a planned operation, or None when it must run normally.

        Its ``data`` is ``gql.compiled.build.EncodedData``: the view's ``encode_json`` writes the
        text out as is (``gql.view``).
        """
        if data.query is None:
            return None
        plan = self._plans.get(data.query, data.operation_name)
        if plan is None:
            return None
        over = self._cost.check(
            graphql_schema(self._schema), plan.document, plan.operation, data.variables
        )
        if over is not None:
            return None  # normal execution refuses it, with the metric and the log line
        started = time.perf_counter()
        try:
            answer = await serve(plan, self._schema, context, data.variables, encoded=True)
        except SQLAlchemyError as exc:
            # Normal execution words, masks, logs and counts it; CompiledExecution answers
            # with it from the context, without asking the database again.
            context.database_failure = exc
            return None
        if answer is None:
            return None
        name = plan.operation.name.value if plan.operation.name else "anonymous"
        setattr(request.state, STATE_KEY, name)  # as GraphQLMetricsExtension does
        self._metrics.observe(name, "query", True, time.perf_counter() - started)
        self.answered += 1
        return ExecutionResult(data=answer, errors=None)
