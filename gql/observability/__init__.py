"""Observability: ``/metrics`` in Prometheus text format and structured access logs.

One ``Observability`` per application owns a private ``CollectorRegistry`` (two apps in
one process never share a counter) and hands out the pieces to wire in::

    obs = Observability()                       # in create_app, before the schema is built
    schema = build_schema(config, extensions=[..., obs.graphql_extension()])
    Starlette(routes=[..., obs.metrics_route()],
              middleware=[Middleware(RequestIdMiddleware), obs.middleware()], ...)

- ``middleware()`` (or ``asgi_middleware(app)``): a pure ASGI middleware counting and
  timing every HTTP request by route template, and logging one line per request to
  ``kasparro.access`` (see ``gql.observability.middleware`` for the fields).
- ``graphql_extension()``: a factory for the Strawberry extension that counts and times
  each GraphQL operation by name, type and status (``gql.observability.graphql``).
- ``metrics_route()``: ``GET /metrics``. The scrape runs in a worker thread on a connection
  of its own: the ETL figures are read from the run tables at scrape time (the same on
  every replica, nothing lost on restart) and, when the database cannot answer, left out
  with ``kasparro_db_up 0`` — the endpoint still answers 200 (``gql.observability.scrape``).

The engine is looked up per scrape by ``engine_of(request)``; the default takes
``request.app.state.engine``, where the application's lifespan keeps it.
"""

from __future__ import annotations

from collections.abc import Callable

from anyio import to_thread
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry
from sqlalchemy import Engine
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp
from strawberry.extensions import SchemaExtension

from kasparro.gql.observability.graphql import GraphQLMetricsExtension
from kasparro.gql.observability.instruments import GraphQLMetrics, HttpMetrics
from kasparro.gql.observability.middleware import RequestObserver
from kasparro.gql.observability.scrape import render

EngineOf = Callable[[Request], Engine | None]


def engine_from_state(request: Request) -> Engine | None:
    """``request.app.state.engine``, or None before the lifespan has created it."""
    engine = getattr(request.app.state, "engine", None)
    return engine if isinstance(engine, Engine) else None


class Observability:
    """The metrics registry of one application and the pieces that feed and expose it."""

    def __init__(self, engine_of: EngineOf = engine_from_state) -> None:
        self.registry = CollectorRegistry()
        self.http = HttpMetrics(self.registry)
        self.graphql = GraphQLMetrics(self.registry)
        self._engine_of = engine_of

    def middleware(self) -> Middleware:
        """The request observer for ``Starlette(middleware=[...])``."""
        return Middleware(RequestObserver, metrics=self.http)

    def asgi_middleware(self, app: ASGIApp) -> ASGIApp:
        """``app`` wrapped in the request observer."""
        return RequestObserver(app, metrics=self.http)

    def graphql_extension(self) -> Callable[[], SchemaExtension]:
        """A factory for ``strawberry.Schema(extensions=[...])``: one extension per request."""
        metrics = self.graphql
        return lambda: GraphQLMetricsExtension(metrics)

    def metrics_route(self, path: str = "/metrics") -> Route:
        """``GET path`` answering with the Prometheus text exposition."""
        return Route(path, self.metrics_endpoint, methods=["GET"], name="metrics")

    async def metrics_endpoint(self, request: Request) -> Response:
        """Render the metrics in a worker thread: the ETL figures come from the database."""
        body = await to_thread.run_sync(render, self.registry, self._engine_of(request))
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


__all__ = ["EngineOf", "Observability", "engine_from_state"]
