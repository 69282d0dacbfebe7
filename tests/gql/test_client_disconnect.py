"""A client that leaves before its request body is complete is no server error."""

from __future__ import annotations

import json
import logging
import socket
import time
from urllib.parse import urlsplit

import pytest

from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.support.servers import serve_in_thread
from tests.support.waiting import wait_until


@pytest.mark.parametrize("path", ["/graphql", "/etl/run"])
def test_a_client_leaving_mid_body_is_logged_as_499_without_a_traceback(
    database_url: str, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    app = create_app(make_settings(database_url, ADMIN_TOKEN="t").app_config())
    body = json.dumps({"query": "{ health { db } }"}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer t\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with caplog.at_level(logging.INFO), serve_in_thread(app) as url:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(head + body[:5])
            time.sleep(0.3)
        wait_until(
            lambda: [r for r in caplog.records if r.name == "kasparro.access"],
            5,
            lambda: caplog.text,
        )
    [access] = [r for r in caplog.records if r.name == "kasparro.access"]
    assert access.getMessage().startswith(f"POST {path} 499 ")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "client disconnected before its request body was complete" in caplog.text
