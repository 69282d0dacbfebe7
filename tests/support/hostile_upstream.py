"""Upstreams that stall below HTTP, where an ASGI app cannot: raw sockets on 127.0.0.1.

- ``dripping(response, every, head)``: reads a request, sends the first ``head`` bytes of
  ``response`` at once, then the rest one byte every ``every`` seconds (``head=0``: the
  headers drip; ``head`` = the header block: the body drips). ``every=math.inf`` never sends
  past ``head``: a server that accepts and then says nothing (also to a TLS ClientHello).
- ``unconnectable()``: a listening socket whose accept queue is full, so a new connection
  waits in the TCP handshake (the SYN is dropped) as with a black-holed host.

``Dripping`` logs each connection: when it was accepted, and when the client closed or shut
it (seen as end-of-stream while dripping), so a test can check the client really let go.
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.support.upstream import sample


def http_response(body: bytes, status: str = "200 OK", **headers: str) -> bytes:
    """A complete HTTP/1.1 response with a Content-Length and ``headers``."""
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def header_block(response: bytes) -> int:
    """The size of ``response``'s status line and headers, blank line included."""
    return response.index(b"\r\n\r\n") + 4


@dataclass
class Connection:
    accepted: float
    closed_by_client: float | None = None
    sent: int = 0


@dataclass
class Dripping:
    """The running server: its base URL and the connections it saw."""

    base_url: str
    connections: list[Connection] = field(default_factory=list)

    def wait_closed(self, timeout: float) -> list[Connection]:
        """Wait until the client closed every connection (or ``timeout``); return them."""
        deadline = time.monotonic() + timeout
        while any(c.closed_by_client is None for c in self.connections):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return list(self.connections)


def _drip(conn: socket.socket, seen: Connection, response: bytes, every: float, head: int) -> None:
    with conn:
        try:
            conn.recv(65536)  # the request (small: a GET)
            conn.sendall(response[:head])
            seen.sent = head
            while True:
                idle = every == math.inf or seen.sent >= len(response)
                readable, _, _ = select.select([conn], [], [], None if idle else every)
                if readable:
                    if not conn.recv(65536):
                        break  # the client closed or shut its side
                    continue
                conn.sendall(response[seen.sent : seen.sent + 1])
                seen.sent += 1
        except OSError:
            pass  # reset by the client
        seen.closed_by_client = time.monotonic()


@contextlib.contextmanager
def dripping(response: bytes, every: float, head: int = 0) -> Iterator[Dripping]:
    """Serve ``response`` slowly (see the module docstring) until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = Dripping(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stopping = threading.Event()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            seen = Connection(time.monotonic())
            server.connections.append(seen)
            args = (conn, seen, response, every, head)
            threading.Thread(target=_drip, args=args, daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stopping.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)
        for conn in accepted:  # ends the drips still waiting
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def dripping_tickers() -> bytes:
    """The recorded CoinPaprika tickers as a complete response, for dripping."""
    return http_response(sample("coinpaprika_tickers_usd_2023-08-11.json"))


@contextlib.contextmanager
def unconnectable() -> Iterator[str]:
    """A base URL whose connections hang in the TCP handshake until the block ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(4):  # more than the accept queue holds
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
