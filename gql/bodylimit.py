"""MAX_REQUEST_BYTES: a pure ASGI middleware that refuses request bodies above a limit.

A ``Content-Length`` above the limit is answered with 413 before any of the body is read.
A body without one (``Transfer-Encoding: chunked``) is counted as it arrives: when it grows
past the limit the client gets the same 413, the application reading it is stopped (it
sees ``http.disconnect``, and whatever it answers is dropped) and the connection closes.
The 413 is JSON like every other error: ``{"error": …, "request_id": …}``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CONTENT_LENGTH = b"content-length"


class BodyLimitMiddleware:
    """Answer 413 to an HTTP request whose body is (or becomes) larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(scope, send, self.max_bytes, f"Content-Length {declared}")
            return
        guard = _Guard(self.max_bytes, scope, receive, send)
        try:
            await self.app(scope, guard.receive, guard.send)
        except ClientDisconnect:
            # Raised by Starlette's Request.body() when ``guard.receive`` stopped the body:
            # the 413 has gone out already.
            if not guard.refused:
                raise


class _Guard:
    """The receive and send of one request whose body has no trustworthy length."""

    def __init__(self, max_bytes: int, scope: Scope, receive: Receive, send: Send) -> None:
        self._max_bytes = max_bytes
        self._scope = scope
        self._receive = receive
        self._send = send
        self._received = 0
        self._started = False
        self.refused = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        self._received += len(message.get("body", b""))
        if self._received <= self._max_bytes:
            return message
        self.refused = True
        if not self._started:
            await _refuse(self._scope, self._send, self._max_bytes, "the body")
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 is the answer; the application's own is dropped
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


async def _refuse(scope: Scope, send: Send, max_bytes: int, what: str) -> None:
    """Send the 413 (JSON, with the request id set by ``gql.middleware``)."""
    request_id = scope.get("state", {}).get("request_id", "")
    body = json.dumps(
        {
            "error": f"request body too large: {what} is over the limit of "
            f"{max_bytes} bytes (MAX_REQUEST_BYTES)",
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    headers: Any = scope["headers"]
    for name, value in headers:
        if name == _CONTENT_LENGTH:
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed Content-Length itself
    return None
