"""Connection deadlines and the connection bound (``kasparro.connections``) on a real server.

The application is the real one (``create_app`` over a test database), served in a thread by
``kasparro.serve.Server`` with short limits; the clients are raw sockets that send requests
piece by piece, stop half-way or stop reading.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from websockets.sync.client import connect as ws_connect

from kasparro.gql.app import create_app
from kasparro.limits import ConnectionLimits
from tests.conftest import make_settings
from tests.support.graphql_ws import PROTOCOL
from tests.support.servers import serve_in_thread

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MARGIN = 1.5
"""Slack over a deadline for a loaded two-core machine."""

HEALTH = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def limits(max_connections: int = 100) -> ConnectionLimits:
    return ConnectionLimits(HEADER_TIMEOUT, BODY_TIMEOUT, max_connections)


@pytest.fixture
def base(database_url: str) -> Iterator[str]:
    app = create_app(make_settings(database_url).app_config())
    with serve_in_thread(app, guarded=limits(max_connections=4)) as url:
        yield url


def connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and when it closed (seconds from now).

    Fails when the connection is still open after ``within`` seconds.
    """
    started = time.monotonic()
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"still open after {within}s; got {data!r}") from None
    return data, time.monotonic() - started


def split(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One whole response (it has a Content-Length) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    status, headers, body = split(data)
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return status, headers, body


def assert_json_error(body: bytes, message: str) -> None:
    payload = json.loads(body)
    assert payload["error"] == message
    uuid.UUID(payload["request_id"])


@pytest.mark.slow
def test_headers_sent_too_slowly_get_a_408_at_the_deadline(base: str) -> None:
    with connect(base) as sock:
        started = time.monotonic()
        # One byte every 0.2 s until just before the deadline: they must not move it.
        for byte in HEALTH[:4]:
            sock.sendall(bytes([byte]))
            time.sleep(0.2)
        data, _ = read_until_closed(sock, HEADER_TIMEOUT + MARGIN)
        took = time.monotonic() - started
    status, headers, body = split(data)
    assert status == 408
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert_json_error(
        body, "request headers not received within 1s (CLIENT_HEADER_TIMEOUT_SECONDS)"
    )
    assert HEADER_TIMEOUT <= took < HEADER_TIMEOUT + MARGIN


@pytest.mark.slow
def test_a_connection_that_sends_nothing_is_closed_without_an_answer(base: str) -> None:
    with connect(base) as sock:
        data, took = read_until_closed(sock, HEADER_TIMEOUT + MARGIN)
    assert data == b""
    assert HEADER_TIMEOUT - 0.1 <= took < HEADER_TIMEOUT + MARGIN


@pytest.mark.slow
def test_the_header_deadline_starts_again_after_each_response_on_a_kept_alive_connection(
    base: str,
) -> None:
    with connect(base) as sock:
        for _ in range(3):  # requests within the deadline are served, one after the other
            sock.sendall(HEALTH)
            status, _, body = read_response(sock)
            assert status == 200 and json.loads(body)["db"] == "ok"
            time.sleep(HEADER_TIMEOUT / 2)
        sock.sendall(HEALTH[:5])  # then a request that never ends
        data, took = read_until_closed(sock, HEADER_TIMEOUT + MARGIN)
    assert split(data)[0] == 408
    assert took < HEADER_TIMEOUT


@pytest.mark.slow
def test_a_body_sent_too_slowly_gets_a_408_and_no_error_is_logged(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"query": "{ health { db } }"}).encode()
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with caplog.at_level(logging.INFO), connect(base) as sock:
        sock.sendall(head + body[:5])
        data, took = read_until_closed(sock, BODY_TIMEOUT + MARGIN)
        time.sleep(0.2)  # the application hears of the disconnect and ends the request
    status, _, answer = split(data)
    assert status == 408
    assert_json_error(answer, "request body not received within 1s (CLIENT_BODY_TIMEOUT_SECONDS)")
    assert BODY_TIMEOUT - 0.1 <= took < BODY_TIMEOUT + MARGIN
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "Exception in ASGI application" not in caplog.text


def test_past_the_limit_the_connection_waiting_longest_for_headers_is_closed(base: str) -> None:
    idle = [connect(base) for _ in range(4)]  # the limit is 4
    time.sleep(0.2)
    try:
        with connect(base) as fresh:
            fresh.sendall(HEALTH)
            status, _, body = read_response(fresh)
            assert status == 200 and json.loads(body)["db"] == "ok"
        # The first idle connection made room; it gets no answer, just the close.
        data, took = read_until_closed(idle[0], 0.5)
        assert data == b"" and took < 0.5
    finally:
        for sock in idle:
            sock.close()


def test_past_the_limit_with_every_connection_busy_a_new_one_gets_a_503(base: str) -> None:
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    busy = [connect(base) for _ in range(4)]
    try:
        for sock in busy:  # each has a request in flight (its body still to come)
            sock.sendall(head)
        time.sleep(0.2)
        with connect(base) as refused:
            data, _ = read_until_closed(refused, 2)
        status, headers, body = split(data)
        assert status == 503
        assert headers["retry-after"] == "1"
        assert_json_error(body, "too many connections (MAX_CONNECTIONS 4); try again later")
    finally:
        for sock in busy:
            sock.close()


async def endless(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4096):  # 256 MiB at most: far beyond any socket buffer
            yield b"x" * 65536

    return StreamingResponse(chunks())


@pytest.mark.slow
def test_a_client_that_stops_reading_a_response_is_disconnected() -> None:
    app = Starlette(routes=[Route("/big", endless)])
    with serve_in_thread(app, guarded=limits()) as url:
        parts = urlsplit(url)
        assert parts.port is not None
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", parts.port))
        with sock:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            time.sleep(BODY_TIMEOUT + MARGIN)  # read nothing meanwhile
            received = 0
            sock.settimeout(10)
            try:
                while chunk := sock.recv(1 << 20):
                    received += len(chunk)
            except ConnectionResetError:
                pass
    # Cut off: what the socket buffers held, not the 256 MiB.
    assert received < 64 << 20


@pytest.mark.slow
def test_websockets_outlive_the_http_deadlines_and_free_their_place(base: str) -> None:
    ws_url = base.replace("http://", "ws://") + "/graphql"
    with ws_connect(ws_url, subprotocols=[PROTOCOL]) as held:
        held.send(json.dumps({"type": "connection_init"}))
        assert json.loads(held.recv(timeout=10)) == {"type": "connection_ack"}
        time.sleep(BODY_TIMEOUT + HEADER_TIMEOUT + MARGIN)  # no HTTP deadline applies to it
        held.send(json.dumps({"type": "ping"}))
        assert json.loads(held.recv(timeout=10)) == {"type": "pong"}
    for _ in range(6):  # more than MAX_CONNECTIONS (4), one after the other
        with ws_connect(ws_url, subprotocols=[PROTOCOL]) as closed:
            closed.send(json.dumps({"type": "connection_init"}))
            assert json.loads(closed.recv(timeout=10)) == {"type": "connection_ack"}
    for _ in range(4):
        with connect(base) as sock:
            sock.sendall(HEALTH)
            status, _, _ = read_response(sock)
            assert status == 200
