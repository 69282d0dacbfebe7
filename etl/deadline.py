"""Run one blocking upstream exchange so that a deadline or a stop request ends it in any phase.

httpx's sync client has timeouts per phase (connect, each read, each write) but no total
one: an upstream that sends one header byte every two seconds never trips a 3-second read
timeout, and nothing can interrupt a blocked read from outside. ``run_with_deadline`` runs
the exchange in a worker thread and waits for it in slices of ``POLL_SECONDS``. When the
deadline passes or ``stop`` is set, it *cuts* the exchange and raises ``ExchangeCut`` in the
caller at once:

- every connection the exchange opened is shut down, which wakes a read or write blocked on
  it, so the worker ends within moments. The exchange passes ``Watch.trace`` as the request's
  httpcore ``trace`` extension, which reports each connection as it is made; the watch keeps
  a duplicate of its socket (wrapping it in TLS hands the original's descriptor over to a new
  object, and the duplicate also keeps the descriptor from being reused by another socket
  before the worker is done);
- a worker still resolving the host or connecting cannot be woken: it ends by its connect
  timeout, and a socket that connects after the cut is shut down at once.

So the caller is back within ``POLL_SECONDS`` (plus ``JOIN_SECONDS`` spent letting the worker
finish) of the deadline or the stop, whatever the phase: connecting, the TLS handshake,
sending, waiting for headers or reading the body.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.1
"""How often the caller looks at the stop request while it waits."""

JOIN_SECONDS = 0.1
"""How long a cut waits for the worker to end (it usually does as its sockets shut)."""

_PHASES = {
    "connection.connect_tcp.started": "connecting",
    "connection.start_tls.started": "in the TLS handshake",
    "http11.send_request_headers.started": "sending the request",
    "http11.receive_response_headers.started": "waiting for the response headers",
    "http11.receive_response_body.started": "reading the body",
}
_OPENED = "connection.connect_tcp.complete"


class ExchangeCut(Exception):
    """The exchange was cut: at its deadline, or (``stopped``) on a stop request."""

    def __init__(self, stopped: bool, phase: str) -> None:
        super().__init__(f"{'stopped' if stopped else 'deadline passed'} while {phase}")
        self.stopped = stopped
        self.phase = phase


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected, or reset already
        sock.shutdown(socket.SHUT_RDWR)


class Watch:
    """What the waiting caller knows of a running exchange: its connections, phase and bytes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._twins: list[socket.socket] = []
        self._cut = False
        self._released = False
        self._phase = "starting"
        self._received = 0

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's ``trace`` extension: note the phase and every connection made."""
        self._phase = _PHASES.get(event, self._phase)
        if event != _OPENED:
            return
        stream = info.get("return_value")
        sock = None if stream is None else stream.get_extra_info("socket")
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            if self._released:
                return
            self._twins.append(sock.dup())
            if self._cut:
                _shut(self._twins[-1])

    def received(self, size: int) -> None:
        """Count ``size`` more bytes of body received."""
        self._received += size

    @property
    def phase(self) -> str:
        if self._phase == "reading the body":
            count = self._received
            return f"reading the body ({count:,} byte{'' if count == 1 else 's'} received)"
        return self._phase

    def cut(self) -> None:
        """Shut down every connection made so far, and any made from now on."""
        with self._lock:
            self._cut = True
            for twin in self._twins:
                _shut(twin)

    def release(self) -> None:
        """Close the duplicates: the exchange is over (called by its worker)."""
        with self._lock:
            self._released = True
            twins, self._twins = self._twins, []
        for twin in twins:
            twin.close()


class _Outcome(Generic[T]):
    __slots__ = ("error", "value")

    def __init__(self, value: T | None, error: BaseException | None) -> None:
        self.value, self.error = value, error


def run_with_deadline(
    work: Callable[[Watch], T], seconds: float, stop: threading.Event, *, name: str
) -> T:
    """``work(watch)``'s result, or its exception, if it ends within ``seconds`` and before
    ``stop`` is set; otherwise cut it and raise ``ExchangeCut`` (see the module docstring).

    ``work`` runs in a new daemon thread and must route its requests' ``trace`` extension
    to ``watch.trace`` and report body bytes to ``watch.received``.
    """
    watch = Watch()
    done: queue.SimpleQueue[_Outcome[T]] = queue.SimpleQueue()

    def worker() -> None:
        try:
            outcome = _Outcome(work(watch), None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, re-raised there
            outcome = _Outcome(None, exc)
        watch.release()
        done.put(outcome)

    end = time.monotonic() + seconds
    thread = threading.Thread(target=worker, name=name, daemon=True)
    thread.start()
    while True:
        left = end - time.monotonic()
        try:
            outcome = done.get(timeout=max(0.0, min(POLL_SECONDS, left)))
        except queue.Empty:
            stopped = stop.is_set()
            if stopped or time.monotonic() >= end:
                phase = watch.phase
                watch.cut()
                thread.join(JOIN_SECONDS)
                raise ExchangeCut(stopped, phase) from None
            continue
        if outcome.error is not None:
            raise outcome.error
        return outcome.value  # type: ignore[return-value]
