"""The Subscription root: ``priceChanges`` and ``etlRunEvents``, served from the process's
change feed (``gql.feed``) over the ``graphql-transport-ws`` protocol at ``/graphql``.

A subscription's arguments are checked as a query's are (``gql.filters``), and its
document goes through the same parsing, validation, depth and cost limits (the schema's
extensions). SUBSCRIPTION_MAX_PER_PROCESS bounds the subscriptions of the process
(``TOO_MANY_SUBSCRIPTIONS``); a subscription whose client falls behind gets the newest
value per key (``gql.fanout``) and, past SUBSCRIPTION_MAX_PENDING or
SUBSCRIPTION_MAX_LAG_SECONDS, its socket is closed with ``SLOW_CONSUMER_CLOSE``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Hashable
from typing import TypeVar

import strawberry
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types import Info

from kasparro.db.changes import RunState
from kasparro.db.queries import LatestPrice
from kasparro.gql import filters
from kasparro.gql.context import Context
from kasparro.gql.errors import BadInput, TooManySubscriptions, Unavailable
from kasparro.gql.fanout import Fanout, Subscriber
from kasparro.gql.feed import ChangeFeed, PriceFilter, price_key, run_key
from kasparro.gql.loaders import build_loaders
from kasparro.gql.types import AssetPrice, EtlRun
from kasparro.gql.variables import VariableLimits

SLOW_CONSUMER_CLOSE = 4429
"""WebSocket close code for a client too slow to take its values (as graphql-ws's 4429)."""

T = TypeVar("T")
F = TypeVar("F", bound=Hashable)


def _feed(info: Info[Context, None]) -> ChangeFeed:
    feed = info.context.feed
    if feed is None:
        raise Unavailable("subscriptions are not served here")
    if feed.held >= feed.config.max_per_process:
        raise TooManySubscriptions(
            f"this server holds its most subscriptions ({feed.config.max_per_process}, "
            "SUBSCRIPTION_MAX_PER_PROCESS); try again later"
        )
    return feed


def _closer(request: object) -> Callable[[str], None]:
    """What closes a slow consumer's socket (kept referenced until it has run)."""
    closing: set[asyncio.Task[None]] = set()

    def close(reason: str) -> None:
        if isinstance(request, WebSocket):
            task = asyncio.create_task(request.close(SLOW_CONSUMER_CLOSE, reason[:120]))
            closing.add(task)
            task.add_done_callback(closing.discard)

    return close


@contextlib.asynccontextmanager
async def _subscribed(
    feed: ChangeFeed,
    fanout: Fanout[T, F],
    wanted: F,
    key: Callable[[T], Hashable],
    info: Info[Context, None],
) -> AsyncIterator[Subscriber[T]]:
    config = feed.config
    subscriber: Subscriber[T] = Subscriber(
        key, (config.max_pending, config.max_lag), _closer(info.context.request)
    )
    async with feed.joining():
        fanout.add(wanted, subscriber)
    try:
        yield subscriber
    finally:
        fanout.remove(wanted, subscriber)


def fresh_loaders(context: Context) -> None:
    """Give ``context`` new DataLoaders. A WebSocket's context lives as long as the
    connection, and a DataLoader caches what it read for as long as it lives: without this
    an event would show what a field (``SourceRun.rejects``) read for an earlier event or
    operation on the same socket."""
    context.loaders = build_loaders(context.read_engine, context.engine)


async def _price_events(
    feed: ChangeFeed, wanted: PriceFilter, info: Info[Context, None]
) -> AsyncGenerator[AssetPrice, None]:
    async with _subscribed(feed, feed.prices, wanted, price_key, info) as subscriber:
        while True:
            rows: list[LatestPrice] | tuple[LatestPrice, ...] = list(await subscriber.take())
            fresh_loaders(info.context)
            for row in rows:
                yield AssetPrice.from_row(row)


async def _run_events(
    feed: ChangeFeed, run_id: int | None, info: Info[Context, None]
) -> AsyncGenerator[EtlRun, None]:
    async with _subscribed(feed, feed.runs, run_id, run_key, info) as subscriber:
        while True:
            states: list[RunState] = list(await subscriber.take())
            fresh_loaders(info.context)
            for state in states:
                yield EtlRun.from_row(state.run, state.sources)


class CheckedWebSocket(ASGIWebSocketAdapter):
    """Strawberry's WebSocket adapter, with a frame the view's ``decode_json`` refuses (not
    JSON, a lone surrogate: ``BadInput``) handled as any frame that is not JSON: the socket
    is closed with 4400. (Only ``graphql-transport-ws`` is served, which never ignores
    such a frame.)"""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        try:
            async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
                yield message
        except BadInput as exc:
            raise NonJsonMessageReceived from exc


def _malformed(message: object) -> str | None:
    """What makes ``message`` no ``graphql-transport-ws`` message Strawberry can handle
    (the socket is then closed with 4400), None when nothing does."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    if message.get("type") != "subscribe":
        return None
    payload = message.get("payload")
    if not isinstance(message.get("id"), str) or not isinstance(payload, dict):
        return "a subscribe message needs an id (a string) and a payload (an object)"
    kinds = {"query": (str,), "variables": (dict, type(None)), "operationName": (str, type(None))}
    for name, kind in kinds.items():
        if not isinstance(payload.get(name), kind):
            return f"a subscribe payload's {name} must be {_KIND_NAMES[name]}"
    return None


_KIND_NAMES = {
    "query": "a string",
    "variables": "an object or null",
    "operationName": "a string or null",
}


class CheckedSubscribe(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's `graphql-transport-ws` handler, with a ``subscribe`` message's
    variables bounded as an HTTP request's are (MAX_VARIABLE_VALUES, MAX_VARIABLE_DEPTH,
    MAX_VARIABLE_STRING_CHARS; ``gql.variables``) before anything coerces them: past a
    bound the operation gets an ``error`` message with code ``BAD_USER_INPUT``. A message
    that is not a JSON object, or a ``subscribe`` whose id, query, variables or
    operationName has the wrong type, closes the socket with 4400 (as the protocol says of
    an invalid message) rather than failing inside Strawberry."""

    limits: VariableLimits

    async def handle_message(self, message: Message) -> None:
        problem = _malformed(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            try:
                self.limits.check(message["payload"].get("variables"))
            except BadInput as exc:
                error = GraphQLError(exc.message, extensions={"code": exc.code})
                refusal: ErrorMessage = {
                    "id": message["id"],
                    "type": "error",
                    "payload": [error.formatted],
                }
                await self.send_message(refusal)
                return
        fresh_loaders(self.context)  # a query or mutation reads afresh too
        await super().handle_subscribe(message)


def checked_subscribe(limits: VariableLimits) -> type[CheckedSubscribe]:
    """``CheckedSubscribe`` bound to ``limits`` (the view's, per application)."""
    return type("CheckedSubscribe", (CheckedSubscribe,), {"limits": limits})


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The newest price of each (asset, source) whose newest price changed, "
        "once its load commits; filtered by asset id, symbol (case ignored) or source. A "
        "client that falls behind gets the newest value per asset and source."
    )
    async def price_changes(
        self,
        info: Info[Context, None],
        asset: list[str] | None = None,
        symbol: list[str] | None = None,
        source: list[str] | None = None,
    ) -> AsyncGenerator[AssetPrice, None]:
        wanted = filters.prices_request(asset=asset, symbol=symbol)
        sources = filters.sources("source", source)
        feed = _feed(info)
        chosen = PriceFilter(
            frozenset(wanted.asset_ids), frozenset(wanted.symbols), frozenset(sources)
        )
        async for price in _price_events(feed, chosen, info):
            yield price

    @strawberry.subscription(
        description="An ETL run's state each time it changes: started, each source's "
        "progress (at most once per SUBSCRIPTION_PROGRESS_SECONDS), each source finished, "
        "finished. Without `runId`, every run."
    )
    async def etl_run_events(
        self, info: Info[Context, None], run_id: int | None = None
    ) -> AsyncGenerator[EtlRun, None]:
        feed = _feed(info)
        async for run in _run_events(feed, run_id, info):
            yield run
