"""A small Starlette app wired with ``Observability`` the way ``create_app`` will wire it.

Routes: ``/data``, ``/items/{id}``, ``/boom`` (raises), ``/loop-thread`` (the event loop's
thread id), ``/v1/items/{id}`` (a router mounted in the router), ``/static/…`` (a mounted
ASGI app), ``/graphql`` (a tiny Strawberry schema with the metrics extension), ``/metrics``.
The engine lives in the lifespan, in ``app.state.engine``, as in the real app.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator

import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from kasparro.db.engine import create_db_engine
from kasparro.gql.middleware import RequestIdMiddleware
from kasparro.gql.observability import Observability


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"hello {name}"

    @strawberry.field
    def fail(self) -> str:
        raise ValueError("resolver failed")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def touch(self) -> int:
        return 1


async def data(request: Request) -> Response:
    return JSONResponse({"data": []})


async def item(request: Request) -> Response:
    return PlainTextResponse(request.path_params["id"])


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


async def loop_thread(request: Request) -> Response:
    return JSONResponse({"thread": threading.get_ident()})


async def static(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("static")(scope, receive, send)


def observed_app(
    database_url: str | None,
    obs: Observability | None = None,
    *,
    request_ids: str = "outer",
) -> Starlette:
    """The test app; ``request_ids`` puts RequestIdMiddleware outside, inside or nowhere."""
    obs = obs or Observability()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if database_url is None:
            yield
            return
        engine = create_db_engine(database_url)
        app.state.engine = engine
        try:
            yield
        finally:
            engine.dispose()

    schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[obs.graphql_extension()])
    routes: list[BaseRoute] = [
        Route("/data", data, methods=["GET"]),
        Route("/items/{id}", item, methods=["GET"]),
        Route("/boom", boom, methods=["GET"]),
        Route("/loop-thread", loop_thread, methods=["GET"]),
        Mount("/v1", routes=[Route("/items/{id}", item, methods=["GET"])]),
        Mount("/static", app=static),
        Route("/graphql", GraphQL[None, None](schema), methods=["GET", "POST"]),
        obs.metrics_route(),
    ]
    middleware = {
        "outer": [Middleware(RequestIdMiddleware), obs.middleware()],
        "inner": [obs.middleware(), Middleware(RequestIdMiddleware)],
        "none": [obs.middleware()],
    }[request_ids]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
