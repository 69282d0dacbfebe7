"""MAX_REQUEST_BYTES on a real server: a too-long Content-Length or a chunked body that grows
past the limit is a 413 with the JSON error shape, and the application does not act on it."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, func, select

from kasparro.db.tables import etl_runs
from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.support.servers import serve_in_thread

LIMIT = 4096
TOKEN = "body-limit-token"


@pytest.fixture
def base(database_url: str) -> Iterator[str]:
    settings = make_settings(database_url, MAX_REQUEST_BYTES=str(LIMIT), ADMIN_TOKEN=TOKEN)
    with serve_in_thread(create_app(settings.app_config())) as url:
        yield url


def connect(base: str) -> http.client.HTTPConnection:
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def answer(connection: http.client.HTTPConnection) -> tuple[int, dict[str, str], object]:
    response = connection.getresponse()
    body = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return response.status, headers, json.loads(body)


def padded_query(size: int) -> bytes:
    """A GraphQL request body of exactly ``size`` bytes (the query padded with spaces)."""
    start = b'{"query": "{ health { db } }'
    end = b'"}'
    return start + b" " * (size - len(start) - len(end)) + end


def etl_run_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(etl_runs)).scalar_one())


def test_content_length_over_the_limit_is_refused_before_the_body(base: str) -> None:
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        # Headers only: the 413 must come without the server waiting for 10 MB.
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"X-Request-ID: too-big-1\r\nContent-Length: 10000000\r\n\r\n"
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), raw
    assert b"x-request-id: too-big-1" in head.lower()
    assert json.loads(body) == {
        "error": "request body too large: Content-Length 10000000 is over the limit of "
        f"{LIMIT} bytes (MAX_REQUEST_BYTES)",
        "request_id": "too-big-1",
    }


def test_a_body_one_byte_over_is_refused_and_one_at_the_limit_served(base: str) -> None:
    connection = connect(base)
    connection.request(
        "POST", "/graphql", body=padded_query(LIMIT), headers={"Content-Type": "application/json"}
    )
    status, _, body = answer(connection)
    assert (status, body) == (200, {"data": {"health": {"db": "ok"}}})
    connection.close()

    connection = connect(base)
    connection.request(
        "POST",
        "/graphql",
        body=padded_query(LIMIT + 1),
        headers={"Content-Type": "application/json"},
    )
    status, headers, body = answer(connection)
    connection.close()
    assert status == 413
    assert body == {
        "error": f"request body too large: Content-Length {LIMIT + 1} is over the limit of "
        f"{LIMIT} bytes (MAX_REQUEST_BYTES)",
        "request_id": headers["x-request-id"],
    }


def test_a_chunked_body_growing_past_the_limit_is_stopped(base: str, engine: Engine) -> None:
    runs_before = etl_run_count(engine)
    connection = connect(base)
    # A valid JSON body for POST /etl/run, sent chunked (no Content-Length), too long.
    names = ", ".join(['"csv"'] * 600)
    payload = f'{{"sources": [{names}]}}'.encode()
    assert len(payload) > LIMIT
    chunks = [payload[i : i + 1000] for i in range(0, len(payload), 1000)]
    connection.request(
        "POST",
        "/etl/run",
        body=iter(chunks),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        encode_chunked=True,
    )
    status, headers, body = answer(connection)
    connection.close()
    assert status == 413
    assert headers["connection"] == "close"
    assert body == {
        "error": "request body too large: the body is over the limit of "
        f"{LIMIT} bytes (MAX_REQUEST_BYTES)",
        "request_id": headers["x-request-id"],
    }
    # The handler saw a disconnect, not the body: no ETL run was started.
    assert etl_run_count(engine) == runs_before


def test_a_chunked_body_within_the_limit_is_served(base: str) -> None:
    connection = connect(base)
    body = padded_query(LIMIT)
    connection.request(
        "POST",
        "/graphql",
        body=iter([body[:1000], body[1000:3000], body[3000:]]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    status, _, answered = answer(connection)
    connection.close()
    assert (status, answered) == (200, {"data": {"health": {"db": "ok"}}})


def test_requests_without_a_body_are_untouched(base: str) -> None:
    connection = connect(base)
    connection.request("GET", "/health")
    status, _, body = answer(connection)
    connection.close()
    assert status == 200
    assert isinstance(body, dict) and body["db"] == "ok"


def test_a_chunked_graphql_body_growing_past_the_limit_is_stopped(base: str) -> None:
    connection = connect(base)
    body = padded_query(LIMIT + 500)
    # The chunk that crosses the limit is the last one: the server answers and closes the
    # connection at that point, and a client still sending then would see a broken pipe.
    connection.request(
        "POST",
        "/graphql",
        body=iter([body[:1000], body[1000:4000], body[4000:]]),
        headers={"Content-Type": "application/json", "X-Request-ID": "chunked-1"},
        encode_chunked=True,
    )
    status, _, answered = answer(connection)
    connection.close()
    assert status == 413
    assert answered == {
        "error": "request body too large: the body is over the limit of "
        f"{LIMIT} bytes (MAX_REQUEST_BYTES)",
        "request_id": "chunked-1",
    }
