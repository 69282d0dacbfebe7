"""Strawberry's GraphQL view with the two overrides the compiled path needs.

``execute_single`` (internal to Strawberry's view) answers an operation that already has
a plan from it (``gql.compiled.fastpath``) and runs a costly one in a worker thread
(``gql.offload``); ``encode_json`` writes a compiled answer's JSON text out as it is.
"""

from __future__ import annotations

import strawberry
from cross_web import AsyncHTTPRequestAdapter
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.http.ides import GraphQL_IDE
from strawberry.types import ExecutionResult

from kasparro.gql.compiled.build import EncodedData
from kasparro.gql.compiled.fastpath import PlanShortcut
from kasparro.gql.compiled.seam import graphql_schema
from kasparro.gql.context import Context
from kasparro.gql.offload import Offload


class PlannedGraphQL(GraphQL[Context, None]):
    """The view; a subclass sets ``shortcut`` (None: no compiled path) and ``offload``."""

    shortcut: PlanShortcut | None
    """Answers operations that already have a plan (``gql.compiled.fastpath``)."""
    offload: Offload
    """Runs costly queries on an event loop of their own (``gql.offload``)."""

    def __init__(self, schema: strawberry.Schema, *, graphql_ide: GraphQL_IDE | None) -> None:
        super().__init__(schema, graphql_ide=graphql_ide)
        self._graphql_schema = graphql_schema(schema)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """A query that already has a compiled plan is answered from it, a costly one in a
        worker thread (``gql.offload``), the others as usual."""
        if self.shortcut is not None and (
            request_adapter.method == "POST" or self.allow_queries_via_get
        ):
            result = await self.shortcut.execute(request, context, request_data)
            if result is not None:
                return result
        costly = await self.offload.costly(self._graphql_schema, request_data)
        execution = super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        return await (self.offload.run(execution) if costly else execution)

    def encode_json(self, data: object) -> str | bytes:
        """As Strawberry encodes, but a compiled answer's ``data`` is already JSON text."""
        if type(data) is list:  # a batch (should batching be enabled), item by item
            return "[" + ",".join(map(self.encode_json_string, data)) + "]"
        if type(data) is dict and len(data) == 1:
            answer = data.get("data")
            if isinstance(answer, EncodedData):
                return '{"data":' + answer.text + "}"
        return super().encode_json(data)
