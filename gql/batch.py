"""The limits of a batch as a whole: one request may not do more than one operation may.

MAX_QUERY_COST and MAX_QUERY_ALIASES bound what one request costs; a batch of ten
operations each just within them would cost ten times as much. So before a batch runs, the
costs (``gql.cost``) of its operations and the aliases (``gql.shape``) of their documents
are added up, and a batch over either limit is refused as a whole (400), before any of it
runs. Operations that do not parse, validate or name an operation count nothing: they are
answered with their own errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import GraphQLError, GraphQLSchema

from kasparro.gql.cost import COST_CAP
from kasparro.gql.errors import QueryTooCostly
from kasparro.gql.schema import Guards
from kasparro.gql.shape import aliases_message, operation_shapes
from kasparro.gql.transport import Operation, RequestError, select_operation


async def over_limits(
    guards: Guards,
    schema: GraphQLSchema,
    items: Sequence[Operation | RequestError],
    max_aliases: int,
) -> RequestError | None:
    """The refusal of a batch whose operations together are over a limit, else None."""
    cost = aliases = 0
    for item in items:
        if isinstance(item, RequestError) or not item.query:
            continue
        try:
            checked = await guards.documents.checked(schema, item.query)
            if checked.errors:
                continue
            operation = select_operation(checked.document, item.operation_name)
        except (GraphQLError, RequestError):
            continue
        aliases += sum(found.aliases for _, found in operation_shapes(checked.document))
        cost = min(
            COST_CAP,
            cost + (guards.cost.estimate(schema, checked.document, operation, item.variables) or 0),
        )
    if cost > guards.cost.limit:
        return RequestError(
            f"batch too costly: its operations' estimated cost is {cost:,} in all, over the "
            f"limit of {guards.cost.limit:,} (MAX_QUERY_COST applies to a batch as a whole); "
            "send fewer or smaller operations",
            code=QueryTooCostly.code,
        )
    if aliases > max_aliases:
        return RequestError(
            f"batch: {aliases_message(aliases, max_aliases)} (MAX_QUERY_ALIASES applies to a batch "
            "as a whole)",
            code="GRAPHQL_VALIDATION_FAILED",
        )
    return None
