"""One request cannot make the server write much more log than it sent, nor much at all.

Before: a document of 4,900 unknown fields wrote 100 lines (17 KB of JSON log) for 28 KB;
30 aliases each with a bad argument, 31 lines (5.3 KB) for a 1.4 KB request; a 60 KB field,
argument or operation name was written out whole (60 KB of log per request). Now every
message and context value is cut at LOG_MAX_VALUE_CHARS (``kasparro.logs``) and a request's
errors make at most one line per kind (``gql.schema.KasparroSchema.process_errors``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.logs import ConsoleFormatter, JsonFormatter
from tests.conftest import make_settings
from tests.support.logcapture import captured_logging

HOSTILE = {
    "4,900 unknown fields": "{ " + " ".join(f"f{n}" for n in range(4900)) + " }",
    "a 60 KB field name": "{ " + "a" * 60_000 + " }",
    "a 60 KB operation name": "query " + "Q" * 60_000 + " { health { db } }",
    "a 60 KB argument name": "{ records(" + "z" * 60_000 + ": 1) { nodes { source } } }",
    "30 aliases with a bad argument": "{ "
    + " ".join(f'a{n}: records(first: "x{"y" * 1900}") {{ nodes {{ source }} }}' for n in range(30))
    + " }",
    "a 60 KB fragment name": "fragment " + "F" * 60_000 + " on Query { health { db } } { x }",
    "1,200 variables never used": "query("
    + " ".join(f"$unused_variable_number_{n}: Int" for n in range(1200))
    + ") { health { db } }",
}
MAX_LOG_BYTES = 4096
"""What one such request may write: two lines (the refusal and the access line) of at most
LOG_MAX_VALUE_CHARS (1,000) characters each for the values a client chose, plus the fixed
parts."""


@pytest.fixture(params=["true", "false"], ids=["introspection", "no-introspection"])
def client(database_url: str, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    config = make_settings(database_url, INTROSPECTION=request.param).app_config()
    with TestClient(create_app(config)) as client:
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["console", "json"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_request_writes_little_log(
    client: TestClient, log_format: str, name: str
) -> None:
    query = HOSTILE[name]
    assert 25_000 < len(query.encode()) < 66_000
    with captured_logging(log_format) as buffer:
        response = client.post("/graphql", json={"query": query})
    assert response.status_code == 200
    errors = response.json().get("errors") or []
    written = buffer.getvalue()
    assert len(written.encode()) <= MAX_LOG_BYTES, written[:2000]
    lines = written.splitlines()
    assert len(lines) == 1 + bool(errors), lines
    refusals = [line for line in lines if "graphql request refused" in line]
    assert len(refusals) == len(lines) - 1
    if not errors:  # the 60 KB operation name succeeds: its access line is cut
        assert "...[59000 more chars]" in lines[0]
        return
    # The first error is still said (the log keeps the schema's names), and how many there were.
    first = errors[0]["message"].split("<hidden>")[0]
    said = json.loads(refusals[0])["message"] if log_format == "json" else refusals[0]
    assert first[:60] in said
    if len(errors) > 1:
        assert f"graphql request refused (1 of {len(errors)} errors): " in said
    if log_format == "json":
        for line in lines:
            json.loads(line)


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("kasparro.access", logging.INFO, "", 0, message, None, None)
    entry.__dict__.update(extra)
    return entry


def test_values_are_cut_with_a_marker() -> None:
    long = "p" * 5000
    try:
        raise ValueError("boom " + "q" * 5000)
    except ValueError:
        info = sys.exc_info()
    for formatter in (ConsoleFormatter(100), JsonFormatter(100)):
        entry = record(long, path="/" + long, operation="op", status=200)
        entry.exc_info = info
        line = formatter.format(entry)
        assert len(line) < 2000
        assert "p" * 100 + "...[4900 more chars]" in line
        assert "/" + "p" * 99 + "...[4901 more chars]" in line
        assert "ValueError: boom " + "q" * 83 + "...[4917 more chars]" in line
    # Short values are written as they are.
    assert (
        ConsoleFormatter(100)
        .format(record("GET /health 200", path="/health"))
        .endswith("GET /health 200  path=/health")
    )
