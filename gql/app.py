"""The Starlette application factory."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import sqlalchemy.exc
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from kasparro.db.latest_cache import PricesCache
from kasparro.gql import exports, products_openapi, products_rest, rest
from kasparro.gql.bodylimit import BodyLimitMiddleware
from kasparro.gql.config import AppConfig
from kasparro.gql.cors import CorsMiddleware
from kasparro.gql.dashboard import dashboard_routes
from kasparro.gql.engines import Engines
from kasparro.gql.errors import (
    RETRY_AFTER_SECONDS,
    UNREACHABLE,
    ApiError,
    Unavailable,
    database_failure,
)
from kasparro.gql.feed import ChangeFeed
from kasparro.gql.graphiql import ASSETS_PATH, graphiql_assets
from kasparro.gql.health import HealthProbe
from kasparro.gql.lifespan import EtlLifespan, etl_scheduler
from kasparro.gql.middleware import RequestIdMiddleware, request_id_of
from kasparro.gql.observability import Observability
from kasparro.gql.observability.feed import FeedCollector
from kasparro.gql.openapi import openapi_document
from kasparro.gql.view import GraphQLApp

log = logging.getLogger(__name__)

CLIENT_CLOSED_REQUEST = 499
"""Status logged for a request whose client left before sending all of it (as nginx)."""


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


COMPRESS_LEVEL = 6
"""gzip level: level 9 costs about three times the CPU for a few percent less on JSON."""


def _compression(min_bytes: int) -> list[Middleware]:
    """gzip for answers of at least ``min_bytes`` (COMPRESS_MIN_BYTES; 0: none) to clients
    that accept it (Starlette's middleware: it sets ``Vary: Accept-Encoding``)."""
    if min_bytes == 0:
        return []
    return [Middleware(GZipMiddleware, minimum_size=min_bytes, compresslevel=COMPRESS_LEVEL)]


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
        feed = ChangeFeed(engines.engine, config.subscriptions)
        app.state.feed = feed
        metrics = FeedCollector(feed)
        obs.registry.register(metrics)
        try:
            # Stopped before the engines are disposed: the run's last batch still commits.
            async with feed.running(), etl(engines.etl, config) as scheduler:
                app.state.etl = scheduler
                yield
        finally:
            obs.registry.unregister(metrics)
            engines.dispose()

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(openapi)

    graphql = GraphQLApp(config, obs)
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
        Route("/graphql", graphql),  # it answers other methods itself
        WebSocketRoute("/graphql", graphql),  # subscriptions (graphql-transport-ws)
        obs.metrics_route(),
        *dashboard_routes(config),
    ]
    if config.graphiql:
        routes.append(Mount(ASSETS_PATH, graphiql_assets(), name="graphiql-assets"))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        # The request id is set first, so the access log and every response carry it.
        # The body limit sits inside both, so a 413 is logged and counted with its id;
        # CORS headers and compression apply to every answer, a 413 included.
        middleware=[
            Middleware(RequestIdMiddleware),
            obs.middleware(),
            Middleware(CorsMiddleware, origins=config.cors_origins),
            *_compression(config.compress_min_bytes),
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
