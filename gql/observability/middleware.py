"""Pure ASGI middleware: request metrics and one access-log line per HTTP request.

The line goes to the ``kasparro.access`` logger with these ``extra`` fields (so with
LOG_FORMAT=json each request is one JSON object carrying them):

    request_id, method, route, path, status, latency_ms[, graphql_operation]

``request_id`` is ``scope["state"]["request_id"]`` as set by ``gql.middleware``'s
``RequestIdMiddleware`` (read after the inner app returns, so the two middlewares may be
stacked in either order); without it, the request's own ``X-Request-ID`` header; else None.
``route`` is the route template (``other`` when nothing matched), never the raw path.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasparro.gql.observability.graphql import STATE_KEY
from kasparro.gql.observability.instruments import HttpMetrics
from kasparro.gql.observability.routes import route_template

ACCESS_LOGGER = "kasparro.access"
REQUEST_ID_HEADER = b"x-request-id"
MAX_HEADER_ID = 128


def request_id(scope: Scope) -> str | None:
    """The request id in ``scope["state"]``, else the client's X-Request-ID header, else None."""
    found = scope.get("state", {}).get("request_id")
    if isinstance(found, str):
        return found
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            return str(value[:MAX_HEADER_ID].decode("latin-1"))
    return None


class RequestObserver:
    """Times each HTTP request, counts it in ``metrics`` and logs it to ``kasparro.access``.

    A request whose handler raised before answering is counted and logged as a 500 (the
    exception goes on to Starlette's error handling). Websocket and lifespan traffic pass by.
    """

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        method: str = scope["method"]
        self.metrics.observe(route, method, status, seconds)
        fields: dict[str, Any] = {
            "request_id": request_id(scope),
            "method": method,
            "route": route,
            "path": scope["path"],
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
        }
        operation = scope.get("state", {}).get(STATE_KEY)
        if operation is not None:
            fields[STATE_KEY] = operation
        level = logging.WARNING if status >= 500 else logging.INFO
        self.log.log(
            level,
            "%s %s %d %.1fms",
            method,
            scope["path"],
            status,
            fields["latency_ms"],
            extra=fields,
        )
