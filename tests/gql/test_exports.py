"""Exports: ``/data.csv``, ``/data.ndjson``, ``/data`` with ``Accept``, ``kasparro export``.

An export of a filter must equal the concatenation of ``/data``'s pages for it, in both
orders and formats, whatever the batch size; a client that leaves mid-stream stops the
reading of further batches.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, insert
from starlette.testclient import TestClient

from kasparro.db.tables import records
from kasparro.gql.app import create_app
from kasparro.gql.exports import COLUMNS
from tests.conftest import make_settings
from tests.gql.store import Store
from tests.support.cli import run_kasparro
from tests.support.servers import serve_in_thread

FILTERS: list[dict[str, str]] = [
    {},
    {"symbol": "btc"},
    {"source": "csv,coingecko", "order": "asc"},
    {"asset": "ethereum", "since": "2024-05-01T02:00:00Z", "until": "2024-05-01T05:00:00Z"},
    {"record_id": "bitcoin,tether", "order": "asc"},
    {"symbol": "NONE"},
]


@pytest.fixture
def small_batches(database_url: str, store: Store) -> Iterator[TestClient]:
    """A client of an app that exports 7 rows per query (many batches over the store)."""
    config = make_settings(database_url, EXPORT_BATCH_ROWS="7").app_config()
    with TestClient(create_app(config)) as client:
        yield client


def data_pages(client: TestClient, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of ``/data`` for ``params``, page after page (5 rows a page)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(
            "/data", params={**params, "limit": "5", **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        items += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def csv_text(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([item[column] for column in COLUMNS] for item in items)
    return out.getvalue()


@pytest.mark.parametrize("params", FILTERS)
def test_an_export_is_the_concatenation_of_the_data_pages(
    small_batches: TestClient, params: dict[str, str]
) -> None:
    items = data_pages(small_batches, params)
    assert list(items[0]) == list(COLUMNS) if items else True
    ndjson = small_batches.get("/data.ndjson", params=params)
    assert ndjson.status_code == 200
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line) for line in ndjson.text.splitlines()] == items
    exported = small_batches.get("/data.csv", params=params)
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.text == csv_text(items)
    # Every value comes back from the CSV as it was (floats in full precision).
    for row, item in zip(csv.DictReader(io.StringIO(exported.text)), items, strict=True):
        assert float(row["value"]) == item["value"]
    by_accept = small_batches.get("/data", params=params, headers={"Accept": "text/csv"})
    assert by_accept.text == exported.text
    by_accept = small_batches.get(
        "/data", params=params, headers={"Accept": "application/x-ndjson;q=0.9, */*"}
    )
    assert by_accept.text == ndjson.text


def test_exports_are_compressed_when_asked(client: TestClient) -> None:
    response = client.get("/data.csv", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    plain = client.get("/data.csv", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert response.text == plain.text
    assert plain.text.count("\n") == 1 + 48
    # Compressed once: the app-wide gzip (COMPRESS_MIN_BYTES) leaves an export it already
    # encoded alone, and compresses the JSON page as any other answer.
    page = client.get("/data", headers={"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    plain_page = client.get("/data", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain_page.headers
    assert page.json()["data"] == plain_page.json()["data"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "5"}, "unknown parameter 'limit'"),
        ({"source": "kraken"}, "unknown source 'kraken'"),
        ({"since": "soon"}, "since: 'soon' is not an ISO 8601"),
        ({"cursor": "nonsense"}, "cursor"),
    ],
)
def test_a_bad_export_is_a_json_400(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    for path in ("/data.csv", "/data.ndjson"):
        response = client.get(path, params=params)
        assert response.status_code == 400
        assert message in response.json()["error"]


def kasparro_export(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_kasparro("export", *args, env=env)


@pytest.mark.slow
def test_the_cli_writes_the_same_export(database_url: str, client: TestClient) -> None:
    env = {"DATABASE_URL": database_url, "EXPORT_BATCH_ROWS": "4", "PATH": "/usr/bin:/bin"}
    filters = {"symbol": "btc", "source": "csv,csv2", "order": "asc"}
    for fmt in ("csv", "ndjson"):
        options = [part for name, value in filters.items() for part in (f"--{name}", value)]
        result = kasparro_export(env, "--format", fmt, *options)
        assert result.returncode == 0, result.stderr
        assert result.stdout == client.get(f"/data.{fmt}", params=filters).text
        assert result.stdout.count("\n") == 12 + (fmt == "csv")
    result = kasparro_export(env, "--format", "xml")
    assert result.returncode == 2
    assert "--format: expected one of csv, ndjson, got 'xml'" in result.stderr


ROWS = 40_000


def _many_rows(engine: Engine) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    rows = [
        {
            "source": "csv",
            "record_id": "BTC",
            "timestamp": start + timedelta(minutes=n),
            "asset_id": "bitcoin",
            "symbol": "BTC",
            "name": "Bitcoin " + "x" * 100,
            "value": 60000.0 + n,
            "market_cap": None,
            "volume_24h": None,
            "run_id": 1,
            "ingested_at": now,
        }
        for n in range(ROWS)
    ]
    with engine.begin() as conn:
        conn.execute(insert(records), rows)


@pytest.mark.slow
def test_a_client_leaving_mid_export_stops_the_reading(
    database_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _many_rows(engine)
    config = make_settings(database_url, EXPORT_BATCH_ROWS="200").app_config()
    with (
        caplog.at_level(logging.INFO, logger="kasparro.gql.exports"),
        serve_in_thread(create_app(config)) as url,
    ):
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect((parts.hostname, parts.port))
        sock.sendall(b"GET /data.ndjson HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        time.sleep(0.5)
        sock.close()
        deadline = time.monotonic() + 10
        while "export stopped after" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
    [stopped] = [r for r in caplog.records if "export stopped after" in r.getMessage()]
    sent = int(stopped.getMessage().split()[3])
    assert 0 < sent < ROWS / 2, stopped.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@pytest.mark.slow
def test_the_cli_stops_quietly_when_its_reader_does(database_url: str, engine: Engine) -> None:
    _many_rows(engine)  # megabytes: more than a pipe holds
    env = {"DATABASE_URL": database_url, "EXPORT_BATCH_ROWS": "500", "PATH": "/usr/bin:/bin"}
    head = subprocess.run(
        f"{sys.executable} -m kasparro.cli export --format ndjson | head -c 10; "
        'echo " exit ${PIPESTATUS[0]}"',
        shell=True,
        executable="/bin/bash",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert head.stdout == '{"source":' + " exit 0\n"
    assert head.stderr == ""
