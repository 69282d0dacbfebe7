"""The Starlette application factory."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping

import sqlalchemy.exc
from cross_web import AsyncHTTPRequestAdapter
from cross_web import HTTPException as StrawberryHTTPException
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from kasparro.db.latest_cache import PricesCache
from kasparro.gql import exports, products_openapi, products_rest, rest
from kasparro.gql.bodylimit import BodyLimitMiddleware
from kasparro.gql.compiled import CompiledExecution, PlanCache
from kasparro.gql.compiled.build import Encoded
from kasparro.gql.compiled.fastpath import CachedPlans
from kasparro.gql.config import AppConfig
from kasparro.gql.context import Context
from kasparro.gql.engines import Engines
from kasparro.gql.errors import (
    RETRY_AFTER_SECONDS,
    UNREACHABLE,
    ApiError,
    Unavailable,
    database_failure,
)
from kasparro.gql.graphiql import ASSETS_PATH, graphiql_assets, graphiql_html
from kasparro.gql.health import HealthProbe
from kasparro.gql.lifespan import EtlLifespan, etl_scheduler
from kasparro.gql.loaders import build_loaders
from kasparro.gql.middleware import RequestIdMiddleware, request_id_of
from kasparro.gql.observability import Observability
from kasparro.gql.offload import Offload
from kasparro.gql.openapi import openapi_document
from kasparro.gql.schema import Guards, build_schema
from kasparro.gql.text import load_json

log = logging.getLogger(__name__)

CLIENT_CLOSED_REQUEST = 499
"""Status logged for a request whose client left before sending all of it (as nginx)."""


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app: context with engine, config and fresh DataLoaders.

    A request body (or GET ``variables``) that is not UTF-8 JSON free of lone surrogates is
    a 400 (``gql.text``); Strawberry's own refusals of a request (not JSON, no query, a
    wrong method) are answered as every other HTTP error is, in JSON.
    """

    def __init__(self, config: AppConfig, obs: Observability) -> None:
        self.guards = Guards.for_config(config)
        """The document cache and the cost limit (``gql.schema``)."""
        self.plans = PlanCache(config.graphql_cache_bytes) if config.graphql_compiled else None
        """Plans of the compiled path (``gql.compiled``); None when GRAPHQL_COMPILED is off."""
        self.offload = Offload(self.guards, config.graphql_offload_cost)
        """Runs costly queries on an event loop of their own (``gql.offload``)."""
        extensions: list[Callable[[], SchemaExtension]] = [obs.graphql_extension()]
        if self.plans is not None:
            extensions.append(functools.partial(CompiledExecution, self.plans))
        schema = build_schema(config, extensions, self.guards)
        self._graphql_schema = schema._schema
        super().__init__(schema, graphql_ide="graphiql" if config.graphiql else None)
        self.shortcut = (
            CachedPlans.for_schema(schema, self.plans, obs.graphql, self.guards.cost)
            if self.plans is not None
            else None
        )
        """Answers operations that already have a plan (``gql.compiled.fastpath``)."""
        self._config = config
        self._ide_html = graphiql_html() if config.graphiql else ""

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive=receive))
        except StrawberryHTTPException as exc:  # Strawberry would answer in plain text
            raise HTTPException(exc.status_code, exc.reason) from None
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        """The request's JSON; ``BadInput`` (400) unless it is UTF-8 Unicode text."""
        return load_json(data, "GraphQL request")

    def encode_json(self, data: object) -> str | bytes:
        """As Strawberry encodes, but a compiled answer's ``data`` is already JSON text."""
        if type(data) is list:  # a batch (should batching be enabled), item by item
            return "[" + ",".join(map(self.encode_json_string, data)) + "]"
        if type(data) is dict and len(data) == 1:
            answer = data.get("data")
            if isinstance(answer, Encoded):
                return '{"data":' + answer.text + "}"
        return super().encode_json(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.app.state
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            engine=state.engine,
            read_engine=state.read_engine,
            config=self._config,
            prices=state.prices,
            health=state.health,
            loaders=build_loaders(state.read_engine, state.engine),
            etl=state.etl,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html)


def _error(
    request: Request, status: int, message: str, extra: Mapping[str, str] | None = None
) -> JSONResponse:
    request_id = request_id_of(request)
    headers = {**(extra or {}), "X-Request-ID": request_id}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        {"error": message, "request_id": request_id}, status_code=status, headers=headers
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(exc, Unavailable) else None
    return _error(request, exc.status, exc.message, retry)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(request, exc.status_code, exc.detail, exc.headers)  # e.g. 405's Allow


async def _database_down(request: Request, exc: Exception) -> Response:
    failure = database_failure(exc) or UNREACHABLE
    log.warning("%s: %s", failure.message, str(getattr(exc, "orig", None) or exc).strip())
    return _error(
        request, failure.status, failure.message, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client left (or was cut off at CLIENT_BODY_TIMEOUT_SECONDS) before its body was
    # complete: nobody hears this answer, it only gives the access log a status (nginx's
    # 499). No bug, so no traceback.
    log.info("client disconnected before its request body was complete")
    return _error(
        request, CLIENT_CLOSED_REQUEST, "client disconnected before the request was complete"
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the traceback; this only shapes the answer (outside our middleware,
    # so the request id header is set here).
    return _error(request, 500, "internal error; quote the request_id when reporting it")


def create_app(config: AppConfig, *, etl: EtlLifespan = etl_scheduler) -> Starlette:
    """Build the application; engine and ETL scheduler live in the lifespan.

    Each application has its own metrics registry (``gql.observability``): ``/metrics``,
    per-request access logs and GraphQL operation metrics.

    ``etl`` starts and stops what runs the ETL for ``runEtl`` and ``POST /etl/run``
    (the real scheduler by default; tests pass a fake).
    """
    openapi = products_openapi.extend(openapi_document(config), config)
    obs = Observability()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # state.engine (DATABASE_URL) reads what the ETL just wrote; state.read_engine
        # (DATABASE_READ_URL, else the same engine) serves the queries; the ETL and /health
        # have engines of their own (gql.engines).
        engines = Engines.open(config)
        app.state.engine, app.state.read_engine = engines.engine, engines.read_engine
        app.state.health = HealthProbe(engines.health, engines.health_read, debug=config.debug)
        app.state.prices = PricesCache()
        app.state.config = config
        try:
            # Stopped before the engines are disposed: the run's last batch still commits.
            async with etl(engines.etl, config) as scheduler:
                app.state.etl = scheduler
                yield
        finally:
            engines.dispose()

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(openapi)

    routes: list[BaseRoute] = [
        Route("/health", rest.health, methods=["GET"]),
        Route("/data", exports.DataRoute(), methods=["GET"]),
        *(
            Route(f"/data.{name}", exports.export_app(name), methods=["GET"])
            for name in exports.FORMATS
        ),
        Route("/stats", rest.stats, methods=["GET"]),
        Route("/candles", products_rest.candles, methods=["GET"]),
        Route("/consensus", products_rest.consensus, methods=["GET"]),
        Route("/divergences", products_rest.divergences, methods=["GET"]),
        Route("/etl/run", rest.etl_run, methods=["POST"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/graphql", GraphQLApp(config, obs), methods=["GET", "POST"]),
        obs.metrics_route(),
    ]
    if config.graphiql:
        routes.append(Mount(ASSETS_PATH, graphiql_assets(), name="graphiql-assets"))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        # The request id is set first, so the access log and every response carry it.
        # The body limit sits inside both, so a 413 is logged and counted with its id.
        middleware=[
            Middleware(RequestIdMiddleware),
            obs.middleware(),
            Middleware(BodyLimitMiddleware, max_bytes=config.max_request_bytes),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            OperationalError: _database_down,
            sqlalchemy.exc.TimeoutError: _database_down,
            Exception: _server_error,
        },
    )
