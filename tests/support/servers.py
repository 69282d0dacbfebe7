"""Run an ASGI app on a real uvicorn server in a background thread, on a free port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn

from kasparro.connections import GuardedH11Protocol
from kasparro.limits import ConnectionLimits
from kasparro.serve import Server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_in_thread(
    app: Any,
    *,
    lifespan: Literal["auto", "on", "off"] = "auto",
    guarded: ConnectionLimits | None = None,
    log_interval: float = 10.0,
) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 until the block ends; yield its base URL.

    With ``guarded``, as ``kasparro serve`` does: ``kasparro.serve.Server`` with those
    connection limits and loop errors throttled to one per ``log_interval``.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        log_config=None,
        lifespan=lifespan,
        access_log=False,
        http=GuardedH11Protocol if guarded is not None else "auto",
    )
    server = (
        Server(config, app, guarded, log_interval)
        if guarded is not None
        else uvicorn.Server(config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
