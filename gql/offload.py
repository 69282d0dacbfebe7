"""Costly queries execute on an event loop of their own, in a worker thread.

The cost limit (``gql.cost``) bounds what one operation may do, but an allowed one can
still be a lot of work for the executor: a 1000-row page of every field through edges and
nodes (cost 36,007) resolves about 36,000 values, some 250 ms of Python, in stretches of
100 ms or more that the event loop cannot interrupt; two clients repeating it kept
``/health`` waiting 400 ms (median). So a query whose estimated cost is at least
GRAPHQL_OFFLOAD_COST runs, whole (Strawberry's execution with its extensions, resolvers,
DataLoaders and database calls), on a fresh event loop in a worker thread, at most
``OFFLOAD_THREADS`` at a time; the application's loop only awaits it. The interpreter's
lock is still shared, but the loop gets it back every few milliseconds instead of after
each stretch.

Only queries move: a mutation (``runEtl``) waits on the ETL scheduler, which lives on the
application's loop. Documents that do not parse or validate, and operations over
MAX_QUERY_COST, stay on the loop too: they are refused at once. Operations the compiled
path has planned are answered before this (``gql.compiled.fastpath``), in a worker thread
already.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from anyio import to_thread
from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationType,
)
from strawberry.http import GraphQLRequestData

from kasparro.gql.schema import Guards
from kasparro.gql.threads import LoopLimiters
from kasparro.gql.transport import RequestError, select_operation

T = TypeVar("T")

OFFLOAD_THREADS = 1
"""Costly queries executing at once (threads compete for the interpreter's lock with the
event loop: one keeps /health's wait shortest)."""


class Offload:
    """Decides which requests are costly queries, and runs them off the loop."""

    def __init__(self, guards: Guards, min_cost: int) -> None:
        self._guards = guards
        self._min_cost = min_cost
        self._limiter = LoopLimiters(OFFLOAD_THREADS)
        self.offloaded = 0
        """How many requests ran in a worker thread."""

    async def costly(self, schema: GraphQLSchema, data: GraphQLRequestData) -> bool:
        """Whether ``data`` is a valid query whose cost is at least GRAPHQL_OFFLOAD_COST and
        within MAX_QUERY_COST, with its document in the cache (the execution takes it from
        there; a document too large to cache runs on the application's loop)."""
        if not data.query:
            return False
        documents = self._guards.documents
        try:
            checked = await documents.checked(schema, data.query)
        except GraphQLError:
            return False
        if checked.errors or not documents.holds(data.query):
            return False
        try:
            operation = select_operation(checked.document, data.operation_name)
        except RequestError:
            return False
        if operation.operation is not OperationType.QUERY:
            return False
        cost = self._guards.cost.estimate(schema, checked.document, operation, data.variables)
        return cost is not None and self._min_cost <= cost <= self._guards.cost.limit

    async def run(self, execution: Coroutine[Any, Any, T]) -> T:
        """Await ``execution`` run to its end on a new event loop in a worker thread."""
        self.offloaded += 1
        return await to_thread.run_sync(asyncio.run, execution, limiter=self._limiter())
