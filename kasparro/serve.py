"""Serving with uvicorn, shut down gracefully on SIGTERM or SIGINT.

On the signal uvicorn stops accepting connections, lets requests in flight finish (at most
``GRACEFUL_SHUTDOWN_SECONDS``, then cancels them), and runs the lifespan's shutdown: the
ETL scheduler stops, then the engines are disposed of. ``Server`` also asks the ETL to stop
the moment the signal arrives, so a run (or a ``runEtl`` request waiting on one) ends at
its next batch boundary while the other requests finish, instead of after them.
"""

from __future__ import annotations

import contextlib
import signal
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from etl.scheduler import EtlScheduler

STARTUP_FAILURE = 3
"""Exit status when the server could not start (uvicorn's)."""

GRACEFUL_SHUTDOWN_SECONDS = 8
"""How long requests in flight may take after SIGTERM (Docker's stop timeout is 10 s)."""


class Server(uvicorn.Server):
    """uvicorn's server, telling the app's ETL scheduler to stop as soon as a signal comes."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app
        self.signal: int | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.signal = sig
        scheduler = getattr(self._app.state, "etl", None)
        if isinstance(scheduler, EtlScheduler):
            scheduler.request_stop()
        super().handle_exit(sig, frame)


def serve(app: Starlette, host: str, port: int) -> None:
    """Serve ``app`` until SIGTERM or SIGINT (see the module docstring); exit status 3 when
    it cannot start (e.g. the port is taken)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = Server(config, app)
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
