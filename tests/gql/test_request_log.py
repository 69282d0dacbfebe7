"""Access logs: with LOG_FORMAT=json, one JSON object per request on stderr, fields asserted."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests.gql.observed import observed_app
from tests.support.logcapture import captured_logging
from tests.support.servers import serve_in_thread

ReadLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_logs() -> Iterator[ReadLines]:
    """``configure_logging("json", INFO)`` as the CLI does; yields a reader of access lines."""
    with captured_logging("json") as buffer:

        def read() -> list[dict[str, Any]]:
            lines = buffer.getvalue().splitlines()
            buffer.seek(0)
            buffer.truncate()
            entries = [json.loads(line) for line in lines]  # every line is one JSON object
            return [entry for entry in entries if entry["logger"] == "kasparro.access"]

        yield read


ACCESS_FIELDS = {"request_id", "method", "route", "path", "status", "latency_ms"}


def test_one_json_line_per_request_with_its_fields(json_logs: ReadLines) -> None:
    with TestClient(observed_app(None)) as client:
        response = client.get("/items/42", headers={"X-Request-ID": "req-42"})
        assert response.headers["x-request-id"] == "req-42"
        client.get("/nope")
    first, second = json_logs()
    assert first.keys() >= ACCESS_FIELDS
    assert {key: first[key] for key in ACCESS_FIELDS - {"latency_ms"}} == {
        "request_id": "req-42",
        "method": "GET",
        "route": "/items/{id}",
        "path": "/items/42",
        "status": 200,
    }
    assert isinstance(first["latency_ms"], float) and 0 <= first["latency_ms"] < 10_000
    assert first["level"] == "info"
    assert first["message"].startswith("GET /items/42 200 ")
    assert "graphql_operation" not in first
    assert (second["route"], second["path"], second["status"]) == ("other", "/nope", 404)
    # No id from the client: RequestIdMiddleware made one, and the log line carries it.
    assert uuid.UUID(second["request_id"])


@pytest.mark.parametrize("order", ["outer", "inner"])
def test_generated_request_id_is_the_one_in_the_response(order: str, json_logs: ReadLines) -> None:
    with TestClient(observed_app(None, request_ids=order)) as client:
        sent = [client.get("/data").headers["x-request-id"] for _ in range(3)]
    assert [entry["request_id"] for entry in json_logs()] == sent
    assert len(set(sent)) == 3


def test_without_request_id_middleware_the_header_or_nothing(json_logs: ReadLines) -> None:
    with TestClient(observed_app(None, request_ids="none")) as client:
        client.get("/data", headers={"X-Request-ID": "from-client"})
        client.get("/data")
    assert [entry["request_id"] for entry in json_logs()] == ["from-client", None]


def test_graphql_lines_name_the_operation(json_logs: ReadLines) -> None:
    with TestClient(observed_app(None)) as client:
        client.post("/graphql", json={"query": "query LatestPrices { hello }"})
        client.post("/graphql", json={"query": "{ hello }"})
        client.post("/graphql", json={"query": "query {"})
    named, anonymous, broken = json_logs()
    assert (named["route"], named["graphql_operation"]) == ("/graphql", "LatestPrices")
    assert anonymous["graphql_operation"] == "anonymous"
    assert "graphql_operation" not in broken  # nothing to name in a syntax error


def test_failed_request_is_logged_as_500_warning(json_logs: ReadLines) -> None:
    with TestClient(observed_app(None), raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    (entry,) = json_logs()
    assert (entry["status"], entry["level"], entry["route"]) == (500, "warning", "/boom")
    assert entry["request_id"] == "boom-1"


def test_json_lines_from_a_real_uvicorn_server(json_logs: ReadLines) -> None:
    # Under uvicorn, scope["state"] starts as a copy of the lifespan state: the request id
    # must still reach the log through it.
    with serve_in_thread(observed_app(None)) as base, httpx.Client(base_url=base) as http:
        ids = [http.get(path).headers["x-request-id"] for path in ("/data", "/v1/items/7")]
        http.get("/metrics")
    entries = json_logs()
    assert [(e["request_id"], e["route"], e["status"]) for e in entries] == [
        (ids[0], "/data", 200),
        (ids[1], "/v1/items/{id}", 200),
        (entries[2]["request_id"], "/metrics", 200),
    ]
