"""CORS_ORIGINS: a pure ASGI middleware letting pages on other origins call the API.

With no origins (the default) it adds nothing, and browsers keep pages on other origins
from reading any answer. Otherwise, for a request whose ``Origin`` is allowed (listed, or
any with ``*``):

- a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered here with
  204: the methods GET and POST, the request headers asked for (``Authorization`` and
  ``Content-Type`` among them), cached by the browser for ``PREFLIGHT_MAX_AGE``;
- every other response gets ``Access-Control-Allow-Origin`` and exposes ``X-Request-ID``,
  ``ETag`` and ``Retry-After`` to the page.

Credentials (cookies) are allowed only for origins listed by name, never with ``*``
(browsers refuse ``*`` with credentials, and echoing any origin with them would let every
site act with a user's cookies). The API needs none: the admin token is a header. A
preflight from an origin not allowed is a 403; other requests from it are answered without
CORS headers (the browser then withholds the answer from the page). ``Vary: Origin`` is set
whenever the answer depends on it.
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ANY = "*"
PREFLIGHT_MAX_AGE = 600
"""Seconds a browser may reuse a preflight's answer."""
METHODS = "GET, POST"
EXPOSED = "X-Request-ID, ETag, Retry-After"
MAX_REQUESTED_HEADERS = 1024
"""Longest ``Access-Control-Request-Headers`` echoed back (a list of header names)."""
_HEADER_LIST = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*")


class CorsMiddleware:
    """Answer preflights and tag responses for the origins in ``origins`` (``("*",)``: any)."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.any = ANY in origins
        self.origins = frozenset(origin for origin in origins if origin != ANY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.any or self.origins):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = self.any or origin in self.origins
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(scope, send, headers, origin if allowed else None)
            return
        if not allowed:
            await self.app(scope, receive, _varying(send))
            return

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                self._allow(response_headers, origin)
                response_headers["Access-Control-Expose-Headers"] = EXPOSED
            await send(message)

        await self.app(scope, receive, tagged)

    def _allow(self, headers: MutableHeaders, origin: str) -> None:
        if self.any:
            headers["Access-Control-Allow-Origin"] = ANY
        else:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
            headers.add_vary_header("Origin")

    async def _preflight(
        self, scope: Scope, send: Send, asked: Headers, origin: str | None
    ) -> None:
        headers = MutableHeaders()
        headers.add_vary_header("Origin")
        if origin is None:
            request_id = scope.get("state", {}).get("request_id", "")
            body = json.dumps(
                {"error": "origin not allowed (CORS_ORIGINS)", "request_id": request_id}
            ).encode()
            headers["Content-Type"] = "application/json"
            headers["Content-Length"] = str(len(body))
            await _answer(send, 403, headers, body)
            return
        self._allow(headers, origin)
        headers["Access-Control-Allow-Methods"] = METHODS
        requested = asked.get("access-control-request-headers", "").strip()
        if (
            requested
            and len(requested) <= MAX_REQUESTED_HEADERS
            and _HEADER_LIST.fullmatch(requested)
        ):
            headers["Access-Control-Allow-Headers"] = requested
        headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        await _answer(send, 204, headers, b"")


def _varying(send: Send) -> Send:
    """``send`` adding ``Vary: Origin`` (the answer would differ for an allowed origin)."""

    async def varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).add_vary_header("Origin")
        await send(message)

    return varying


async def _answer(send: Send, status: int, headers: MutableHeaders, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers.raw})
    await send({"type": "http.response.body", "body": body})
