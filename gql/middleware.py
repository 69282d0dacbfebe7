"""Request ids: a pure ASGI middleware that tags every HTTP response with X-Request-ID.

A client's ``X-Request-ID`` is echoed when it is sane (1-128 characters of
``[A-Za-z0-9._-]``); otherwise a fresh uuid4 is used. The id and the request's start time
are put in ``scope["state"]`` (``request.state.request_id`` / ``.started``) for handlers.
"""

from __future__ import annotations

import random
import re
import time
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,128}")


def new_request_id(generator: random.Random) -> str:
    """A random uuid4 drawn from ``generator``.

    Request ids need uniqueness, not secrecy, so a per-middleware generator (seeded once
    from the OS) replaces os.urandom per request (a system call that costs more than the
    rest of a small request here). It is private to the middleware: code that reseeds the
    shared ``random`` module cannot make ids repeat.
    """
    return str(uuid.UUID(int=generator.getrandbits(128), version=4))


def request_id_of(request: Request) -> str:
    """The id given to ``request`` by ``RequestIdMiddleware`` (or a fresh one)."""
    found = request.scope.get("state", {}).get("request_id")
    return found if isinstance(found, str) else str(uuid.uuid4())


def started_at(request: Request) -> float:
    """``time.perf_counter()`` when the request arrived."""
    found = request.scope.get("state", {}).get("started")
    return found if isinstance(found, float) else time.perf_counter()


class RequestIdMiddleware:
    """Give each HTTP request an id and send it back as ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._ids = random.Random()  # seeded from os.urandom once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                if _SANE.fullmatch(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = new_request_id(self._ids)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = started
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value) for name, value in message.get("headers", ()) if name != HEADER
                ]
                headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
