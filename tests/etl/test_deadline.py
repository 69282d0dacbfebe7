"""``run_with_deadline`` alone: results, errors, cuts, and connections made after a cut."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from kasparro.etl.deadline import ExchangeCut, Watch, run_with_deadline


class _Stream:
    """What httpcore's trace hook hands over for a new connection."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self._sock if name == "socket" else None


def test_the_result_and_the_error_of_the_work_come_back() -> None:
    assert run_with_deadline(lambda watch: 42, 1.0, threading.Event(), name="t") == 42

    def fail(watch: Watch) -> int:
        raise LookupError("from the worker")

    with pytest.raises(LookupError, match="from the worker"):
        run_with_deadline(fail, 1.0, threading.Event(), name="t")


@pytest.mark.parametrize("stopped", [False, True])
def test_a_cut_names_the_phase_and_whether_it_was_a_stop(stopped: bool) -> None:
    stop, release = threading.Event(), threading.Event()

    def stuck(watch: Watch) -> None:
        watch.trace("http11.receive_response_body.started", {})
        watch.received(1234)
        release.wait(10)

    if stopped:
        threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(ExchangeCut) as caught:
        run_with_deadline(stuck, 0.2 if not stopped else 30.0, stop, name="t")
    release.set()
    assert caught.value.stopped is stopped
    assert caught.value.phase == "reading the body (1,234 bytes received)"
    assert time.monotonic() - started < 2.0


def test_a_connection_made_after_the_cut_is_shut_at_once() -> None:
    watch = Watch()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
        with client, peer:
            watch.cut()
            watch.trace("connection.connect_tcp.complete", {"return_value": _Stream(client)})
            peer.settimeout(2.0)
            assert peer.recv(10) == b""  # end of stream: the client side was shut down
            watch.release()
