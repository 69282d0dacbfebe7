"""Deadlines and a bound for the server's HTTP connections (slow clients, connection floods).

Where uvicorn reads a request: with h11 (the HTTP parser installed here; uvicorn's
``http="auto"`` would take httptools if it were installed, so ``kasparro.serve`` names this
class explicitly), ``H11Protocol.data_received`` feeds each chunk of bytes to an
``h11.Connection`` and ``handle_events`` asks it for the next event, which stays
``NEED_DATA`` until the blank line that ends the headers has arrived. Nothing bounds how
long that takes: uvicorn's only timer, ``timeout_keep_alive``, is armed after a response
and cancelled by any byte that arrives, and a new connection has no timer at all. A client
sending one byte every few seconds holds its connection, and a file descriptor, forever.
Nor are connections counted: ``limit_concurrency`` answers 503 only once a request's
headers are complete.

``GuardedH11Protocol`` adds three deadlines to each connection:

- headers: the request line and headers must be complete within ``header_timeout`` of
  the moment the connection began to wait for them (when it opened, or when the previous
  response ended); bytes arriving do not extend it;
- body: the request body must be complete within ``body_timeout`` of its headers;
- a stalled response: a client that reads nothing of a response for ``body_timeout``
  while the server has more to send is disconnected.

A connection upgraded to a WebSocket leaves these deadlines (the WebSocket is pinged
instead, SUBSCRIPTION_PING_SECONDS) and stays counted until it closes.

At a deadline the client gets a ``408`` (JSON, ``Connection: close``) when it has sent part
of a request and no response has started, and the connection closes; an idle keep-alive
connection is just closed. ``ConnectionTable`` keeps at most ``max_connections`` open: a
connection beyond that closes the one that has waited longest for its request headers (an
idle keep-alive or a slow sender), or, when every connection has a request in flight, is
answered ``503`` with ``Retry-After`` and closed. So slow senders can neither hold
connections for long nor crowd out a client that sends its request at once (a load
balancer's ``/health``). Every such event is logged through a ``Throttle``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any, Literal

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from kasparro.limits import ConnectionLimits
from kasparro.throttle import Throttle

log = logging.getLogger(__name__)

Phase = Literal["head", "body"]

RETRY_AFTER_SECONDS = 1
"""``Retry-After`` of the 503 sent when every connection has a request in flight."""


def _raw_response(status: int, reason: str, error: str, extra: str = "") -> bytes:
    """A whole JSON error response, written straight to a connection about to close."""
    body = json.dumps({"error": error, "request_id": str(uuid.uuid4())}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionTable:
    """The open connections of one server, and which of them wait for request headers."""

    def __init__(self, limits: ConnectionLimits, throttle: Throttle) -> None:
        self.limits = limits
        self._throttle = throttle
        self._open: set[GuardedH11Protocol] = set()
        self._waiting: dict[GuardedH11Protocol, None] = {}
        """Connections waiting for request headers, the longest-waiting first."""

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, connection: GuardedH11Protocol) -> bool:
        """Make room for ``connection`` and add it; False when there is none (the caller
        refuses it)."""
        if len(self._open) >= self.limits.max_connections:
            # An upgraded connection's close reaches its WebSocket protocol, not ours: it
            # leaves the table here, once its transport has closed.
            self._open = {open_ for open_ in self._open if not open_.transport.is_closing()}
        if len(self._open) >= self.limits.max_connections:
            if not self._waiting:
                self.warn("refused", "refused a connection: every one has a request in flight")
                return False
            oldest = next(iter(self._waiting))
            self.release(oldest)
            oldest.transport.close()
            self.warn("evicted", "closed the connection waiting longest for its request headers")
        self._open.add(connection)
        return True

    def waiting(self, connection: GuardedH11Protocol) -> None:
        """``connection`` starts waiting for a request's headers (it goes last in line)."""
        if connection in self._open:
            self._waiting.pop(connection, None)
            self._waiting[connection] = None

    def busy(self, connection: GuardedH11Protocol) -> None:
        """``connection`` has a request's headers (or is done with requests)."""
        self._waiting.pop(connection, None)

    def release(self, connection: GuardedH11Protocol) -> None:
        self._open.discard(connection)
        self._waiting.pop(connection, None)

    def warn(self, kind: str, message: str) -> None:
        """Log ``message`` about the connections, at most once per throttle interval."""
        suppressed = self._throttle.admit(kind)
        if suppressed is None:
            return
        more = f" ({suppressed} more like it in the last {self._throttle.interval:g}s)"
        log.warning(
            "%s; %d connections open, limit %d%s",
            message,
            len(self._open),
            self.limits.max_connections,
            more if suppressed else "",
            extra={"connections": len(self._open), "suppressed": suppressed},
        )


class GuardedServerState(ServerState):
    """uvicorn's shared server state plus the connection table its protocols share."""

    def __init__(self, table: ConnectionTable) -> None:
        super().__init__()
        self.table = table


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header, body and stalled-response deadlines and a
    bounded connection table (see the module docstring). Needs ``GuardedServerState``."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if not isinstance(server_state, GuardedServerState):
            raise TypeError("GuardedH11Protocol needs a GuardedServerState (kasparro.serve)")
        self._table = server_state.table
        self._phase: Phase | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._stalled: asyncio.TimerHandle | None = None
        self._upgraded = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self._table.admit(self):
            limit = self._table.limits.max_connections
            transport.write(
                _raw_response(
                    503,
                    "Service Unavailable",
                    f"too many connections (MAX_CONNECTIONS {limit}); try again later",
                    f"retry-after: {RETRY_AFTER_SECONDS}\r\n",
                )
            )
            transport.close()
            return
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        self._table.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stalled is None:
            self._stalled = self.loop.call_later(self._table.limits.body_timeout, self._stall)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        """The connection becomes a WebSocket (its own protocol takes the transport, and
        pings it): no HTTP deadline applies any more. It stays counted, as busy, until its
        transport closes (``ConnectionTable.admit``)."""
        self._upgraded = True
        self._phase = None
        self._disarm()
        self._table.busy(self)
        super().handle_websocket_upgrade(event)

    def _follow(self) -> None:
        """Arm the deadline of what the connection now waits for, if that changed."""
        if self._upgraded or self.transport.is_closing():
            return
        state = self.conn.their_state
        phase: Phase | None = (
            "head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        )
        if phase == self._phase:
            return
        self._phase = phase
        self._disarm()
        limits = self._table.limits
        if phase == "head":
            self._table.waiting(self)
            self._deadline = self.loop.call_later(limits.header_timeout, self._expire)
        else:
            self._table.busy(self)
            if phase == "body":
                self._deadline = self.loop.call_later(limits.body_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        """The headers or the body did not arrive in time: 408 if a request was begun."""
        self._deadline = None
        if self.transport.is_closing():
            return
        limits = self._table.limits
        if self._phase == "head":
            begun = bool(self.conn.trailing_data[0])
            error = (
                f"request headers not received within {limits.header_timeout:g}s "
                "(CLIENT_HEADER_TIMEOUT_SECONDS)"
            )
        else:
            begun = self.cycle is not None and not self.cycle.response_started
            error = (
                f"request body not received within {limits.body_timeout:g}s "
                "(CLIENT_BODY_TIMEOUT_SECONDS)"
            )
        if begun:
            self.transport.write(_raw_response(408, "Request Timeout", error))
            self._table.warn(f"{self._phase}-timeout", f"closed a connection: {error}")
        self.transport.close()

    def _stall(self) -> None:
        self._stalled = None
        if not self.transport.is_closing():
            self._table.warn(
                "stalled",
                "closed a connection whose client read nothing of its response for "
                f"{self._table.limits.body_timeout:g}s (CLIENT_BODY_TIMEOUT_SECONDS)",
            )
            self.transport.abort()
