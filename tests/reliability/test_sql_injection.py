"""SQL injection through every filter of REST /data and of GraphQL records, assets and
latestPrices, against a real `kasparro serve` over a store of known rows: each answer is a
200 with no rows or a 400 (a GraphQL input error), none is slow, and the store is the same
afterwards (row count and checksum, assets, aliases, the list of tables)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, inspect

from kasparro.gql.rest import DATA_PARAMETERS
from tests.ops.serving import Served
from tests.reliability.figures import report
from tests.reliability.fuzzing import serve_known_store, store_fingerprint

PAYLOADS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "x' OR 'x'='x' /*",
    "'; DROP TABLE records; --",
    '"; DROP TABLE records; --',
    "1; DELETE FROM records",
    "') OR ('a'='a",
    "BTC' UNION SELECT * FROM records --",
    "' UNION SELECT NULL, version(), NULL --",
    "%",
    "%' OR '%'='",
    "_",
    "BTC%",
    "*",
    "\\'; DELETE FROM records WHERE '1'='1",
    "'; SELECT pg_sleep(3); --",
    "1' AND 1=(SELECT 1 FROM pg_sleep(3)) --",
    "' AND randomblob(300000000) --",
    "$$; DELETE FROM records; $$",
    "' || (SELECT sqlite_version()) || '",
    "'/**/OR/**/1=1#",
    "bitcoin' OR asset_id IS NOT NULL --",
    "2024-05-01T00:00:00Z' OR '1'='1",
    "\uff22\uff34\uff23' \uff2f\uff32 1=1",  # full-width letters: BTC' OR 1=1
    "NULL",
]
REST_FILTERS = DATA_PARAMETERS
# (query, argument): every string argument of the read fields, sent as a variable.
GRAPHQL_FILTERS = [
    ("query($v: [String!]) { records(source: $v) { nodes { source } } }", "records"),
    ("query($v: [String!]) { records(recordId: $v) { nodes { source } } }", "records"),
    ("query($v: [String!]) { records(asset: $v) { nodes { source } } }", "records"),
    ("query($v: [String!]) { records(symbol: $v) { nodes { source } } }", "records"),
    ("query($v: DateTime) { records(since: $v) { nodes { source } } }", "records"),
    ("query($v: DateTime) { records(until: $v) { nodes { source } } }", "records"),
    ("query($v: String) { records(after: $v) { nodes { source } } }", "records"),
    ("query($v: String) { assets(symbol: $v) { id } }", "assets"),
    ("query($v: [String!]) { latestPrices(asset: $v) { value } }", "latestPrices"),
    ("query($v: [String!]) { latestPrices(symbol: $v) { value } }", "latestPrices"),
]
SLOW_SECONDS = 2.0


@pytest.fixture
def served(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[Served]:
    with serve_known_store(database_url, engine, tmp_path, "sql-injection") as served:
        yield served


def tables(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def rest_outcome(client: httpx.Client, name: str, payload: str) -> str:
    response = client.get("/data", params={name: payload})
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    if response.status_code == 400:
        assert body["error"], body
        return "400"
    assert response.status_code == 200, (name, payload, response.text)
    assert body["data"] == [], (name, payload, body)
    return "200 empty"


def graphql_outcome(client: httpx.Client, query: str, field: str, payload: str) -> str:
    variable: Any = [payload] if "[String!]" in query else payload
    response = client.post("/graphql", json={"query": query, "variables": {"v": variable}})
    assert response.status_code == 200, (query, payload, response.text)
    body = response.json()
    errors = body.get("errors")
    if errors:
        assert body.get("data") is None, body  # absent when refused before execution
        for error in errors:
            # A scalar that is not a DateTime fails validation (no path); the rest are ours.
            assert "path" not in error or error["extensions"]["code"] == "BAD_USER_INPUT", body
        return "input error"
    found = body["data"][field]
    rows = found["nodes"] if field == "records" else found
    assert rows == [], (query, payload, body)
    return "200 empty"


@pytest.mark.slow
def test_sql_injection_in_every_filter_is_harmless(
    served: Served, engine: Engine, pytestconfig: pytest.Config
) -> None:
    before = store_fingerprint(engine), tables(engine)
    outcomes: Counter[str] = Counter()
    slowest = 0.0
    with httpx.Client(base_url=served.base_url, timeout=30) as client:
        for payload in PAYLOADS:
            for name in REST_FILTERS:
                started = time.monotonic()
                outcomes[f"REST {rest_outcome(client, name, payload)}"] += 1
                slowest = max(slowest, time.monotonic() - started)
            for query, field in GRAPHQL_FILTERS:
                started = time.monotonic()
                outcomes[f"GraphQL {graphql_outcome(client, query, field, payload)}"] += 1
                slowest = max(slowest, time.monotonic() - started)
        # The store still answers as before: the known rows are all there.
        assert len(client.get("/data", params={"limit": 1000}).json()["data"]) == before[0][0]
    after = store_fingerprint(engine), tables(engine)
    total = sum(outcomes.values())
    report(
        pytestconfig,
        "sql-injection",
        f"{total} requests ({len(PAYLOADS)} payloads x {len(REST_FILTERS)} REST parameters "
        f"+ {len(GRAPHQL_FILTERS)} GraphQL arguments), slowest {slowest:.3f}s, store unchanged",
        {"outcomes": dict(outcomes), "slowest_seconds": slowest, "store": after[0]},
    )
    assert total == len(PAYLOADS) * (len(REST_FILTERS) + len(GRAPHQL_FILTERS))
    assert slowest < SLOW_SECONDS  # no payload made the database sleep or churn
    assert after == before
