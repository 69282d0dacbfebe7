"""Serving with uvicorn, shut down gracefully on SIGTERM or SIGINT.

On the signal uvicorn stops accepting connections, lets requests in flight finish (at most
``GRACEFUL_SHUTDOWN_SECONDS``, then cancels them), and runs the lifespan's shutdown: the
ETL scheduler stops, then the engines are disposed of. ``Server`` also asks the ETL to stop
the moment the signal arrives, so a run (or a ``runEtl`` request waiting on one) ends at
its next batch boundary while the other requests finish, instead of after them.

Connections are guarded (``kasparro.connections``): header, body and stalled-response
deadlines, and at most ``MAX_CONNECTIONS`` open, lowered to what the process's file
descriptor limit leaves after ``RESERVED_DESCRIPTORS``. The event loop's own error reports
(an ``accept()`` failing with "Too many open files") are logged at a bounded rate
(``kasparro.loop_errors``).

WebSocket connections (GraphQL subscriptions) are closed on the signal with code 1001
(going away) rather than uvicorn's 1012, and pinged every SUBSCRIPTION_PING_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
from socket import socket
from types import FrameType
from typing import NamedTuple

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from kasparro.connections import (
    ConnectionTable,
    GuardedH11Protocol,
    GuardedServerState,
)
from kasparro.etl.scheduler import EtlScheduler
from kasparro.limits import ConnectionLimits
from kasparro.loop_errors import throttled_exception_handler
from kasparro.throttle import Throttle

log = logging.getLogger(__name__)

STARTUP_FAILURE = 3
"""Exit status when the server could not start (uvicorn's)."""

GRACEFUL_SHUTDOWN_SECONDS = 8
"""How long requests in flight may take after SIGTERM (Docker's stop timeout is 10 s)."""

ACCEPT_BACKLOG = 2048
"""The listen backlog (uvicorn's default), unless the file descriptor limit is low."""

RESERVED_DESCRIPTORS = 128
"""File descriptors kept for everything but client connections: the database pools (up to
27 connections per database URL), the ETL's files and upstream connections, the log, the
listening socket, the interpreter's own files."""


GOING_AWAY = 1001
"""The WebSocket close code sent to every subscriber when the server shuts down."""


class GoingAwayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (the one it picks with `websockets` installed), closing
    with 1001 (the server is going away) on shutdown where uvicorn sends 1012: clients
    reconnect, to this server once it is back or to another replica. As uvicorn's own
    ``shutdown`` but for the code."""

    def shutdown(self) -> None:
        if self.close_sent or not self.handshake_complete:
            super().shutdown()
            return
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
        self.conn.send_close(GOING_AWAY)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()


class Server(uvicorn.Server):
    """uvicorn's server with guarded connections and throttled loop errors, telling the
    app's ETL scheduler to stop as soon as a signal comes."""

    def __init__(
        self,
        config: uvicorn.Config,
        app: Starlette,
        limits: ConnectionLimits,
        log_interval: float,
    ) -> None:
        super().__init__(config)
        self._app = app
        self.signal: int | None = None
        self._throttle = Throttle(log_interval)
        self.server_state = GuardedServerState(ConnectionTable(limits, self._throttle))

    async def startup(self, sockets: list[socket] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(
            throttled_exception_handler(self._throttle)
        )
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.signal = sig
        scheduler = getattr(self._app.state, "etl", None)
        if isinstance(scheduler, EtlScheduler):
            scheduler.request_stop()
        super().handle_exit(sig, frame)


class Budget(NamedTuple):
    """How many connections may be open, and the listen backlog (see ``connection_budget``)."""

    connections: int
    backlog: int


def connection_budget(wanted: int) -> Budget:
    """``wanted`` (MAX_CONNECTIONS) and uvicorn's backlog, or less when the file descriptor
    limit cannot hold them with ``RESERVED_DESCRIPTORS`` to spare.

    asyncio accepts up to ``backlog`` connections in a row each time the listening socket is
    ready, before any of them reaches the connection table, so a burst can hold that many
    descriptors more than the table admits. The soft limit is first raised towards the hard
    one as far as needed (as Go and nginx do); past the hard limit, the backlog and then the
    connection budget shrink, with a warning.
    """
    backlog = ACCEPT_BACKLOG
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_DESCRIPTORS + backlog
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return Budget(wanted, backlog)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft >= needed:
        return Budget(wanted, backlog)
    backlog = max(16, min(backlog, soft // 8))
    budget = max(1, min(wanted, soft - RESERVED_DESCRIPTORS - backlog))
    if budget < wanted:
        log.warning(
            "MAX_CONNECTIONS %d lowered to %d: the process may open %d files (RLIMIT_NOFILE) "
            "and keeps %d for the database pools, the ETL and logs, and %d for connections "
            "accepted in one burst (the listen backlog)",
            wanted,
            budget,
            soft,
            RESERVED_DESCRIPTORS,
            backlog,
            extra={"max_connections": budget, "backlog": backlog},
        )
    return Budget(budget, backlog)


def serve(
    app: Starlette,
    host: str,
    port: int,
    limits: ConnectionLimits,
    log_interval: float,
    ws_ping: float = 20.0,
    ws_max_bytes: int = 1_048_576,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT (see the module docstring); exit status 3 when
    it cannot start (e.g. the port is taken).

    ``limits``: the connection deadlines and bound (``max_connections`` is lowered to
    ``connection_budget``); ``log_interval``: LOG_REPEAT_INTERVAL_SECONDS; ``ws_ping``:
    SUBSCRIPTION_PING_SECONDS, how often each WebSocket is pinged and how late its pong
    may be before it is closed; ``ws_max_bytes``: MAX_REQUEST_BYTES, the largest WebSocket
    message taken (a larger one closes the connection with 1009).
    """
    budget = connection_budget(limits.max_connections)
    limits = ConnectionLimits(limits.header_timeout, limits.body_timeout, budget.connections)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=GuardedH11Protocol,
        ws=GoingAwayWebSocketProtocol,
        backlog=budget.backlog,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ws_ping_interval=ws_ping,
        ws_ping_timeout=ws_ping,
        ws_max_size=ws_max_bytes,
    )
    server = Server(config, app, limits, log_interval)
    # As uvicorn.run: uvicorn re-raises the signal it caught once it has shut down, so
    # SIGINT ends here and SIGTERM ends the process by its default action (status 143).
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
    if server.signal == signal.SIGTERM:
        # Still running after uvicorn re-raised SIGTERM: this is PID 1 of a container, where
        # the kernel drops a signal that has no handler. Exit as the signal would have.
        raise SystemExit(128 + signal.SIGTERM)
