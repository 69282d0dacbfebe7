"""The Starlette application factory."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from db.engine import create_db_engine
from gql.config import AppConfig
from gql.context import Context
from gql.health import check_health
from gql.schema import build_schema

log = logging.getLogger(__name__)


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app with a context that carries the engine and config."""

    def __init__(self, config: AppConfig) -> None:
        super().__init__(build_schema(config), graphql_ide="graphiql" if config.graphiql else None)
        self._config = config

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            engine=request.app.state.engine,
            config=self._config,
        )


async def health(request: Request) -> JSONResponse:
    report = await check_health(request.app.state.engine)
    body = {
        "db": report.db,
        "etl_last_run": report.etl_last_run,
        "database": report.database,
        "detail": report.detail,
    }
    return JSONResponse(body, status_code=200 if report.db == "ok" else 503)


def create_app(config: AppConfig) -> Starlette:
    """Build the application; the engine is created and disposed of in the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_db_engine(config.database_url)
        app.state.engine = engine
        try:
            yield
        finally:
            engine.dispose()

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/graphql", GraphQLApp(config), methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
