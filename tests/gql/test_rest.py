"""REST shims: shapes, errors, request ids, /stats, /openapi.json."""

from __future__ import annotations

import random
import re
import uuid
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.gql.rest import DATA_PARAMETERS
from kasparro.settings import Settings
from tests.conftest import ON_POSTGRESQL, make_settings
from tests.gql.store import HOURS, Store

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_data_shape(client: TestClient, store: Store) -> None:
    response = client.get("/data", params={"limit": 2, "record_id": "btc-bitcoin"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"request_id", "api_latency_ms", "data", "next_cursor"}
    assert body["request_id"] == response.headers["x-request-id"]
    assert UUID.fullmatch(body["request_id"])
    assert isinstance(body["api_latency_ms"], float) and body["api_latency_ms"] >= 0
    assert body["data"] == [
        {
            "source": "coinpaprika",
            "record_id": "btc-bitcoin",
            "value": 60000.0 + hour,
            "timestamp": f"2024-05-01T0{hour}:00:00+00:00",
            "asset_id": "bitcoin",
            "symbol": "BTC",
            "name": "Bitcoin",
            "market_cap": 60000.0 * 1e6,
            "volume_24h": 12345.5,
        }
        for hour in (HOURS - 1, HOURS - 2)
    ]
    assert isinstance(body["next_cursor"], str)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("cursor=garbage", "invalid cursor"),
        ("cursor=WyJrMSJd", "invalid cursor"),  # base64 of ["k1"]
        ("cursor=" + "A" * 2000, "invalid cursor"),
        ("since=yesterday", "since: 'yesterday' is not an ISO 8601"),
        ("until=2024-13-01", "until: '2024-13-01' is not an ISO 8601"),
        ("source=binance", "unknown source 'binance' (known: coinpaprika, coingecko, csv, csv2)"),
        ("limit=1001", "limit must be at most 1000 (MAX_PAGE_SIZE), got 1001"),
        ("limit=0", "limit must be at least 1"),
        ("limit=ten", "limit: expected a whole number"),
        ("order=sideways", "order: expected asc or desc"),
        ("symbol=%00", "symbol: '\\x00' is not a valid value"),
        ("limit=1&limit=2", "limit: give it once"),
        ("until=", "until: empty value"),
        ("cursor=", "cursor: empty value"),
        ("since=2024-05-01T00:00:60Z", "since: '2024-05-01T00:00:60Z' is not an ISO 8601"),
        ("sorce=csv", "unknown parameter 'sorce'"),
        ("since=0001-01-01T00:00:00%2B01:00", "since: 0001-01-01T00:00:00+01:00 is out of range"),
    ],
)
def test_bad_input_is_a_400_with_a_clear_message(
    client: TestClient, query: str, message: str
) -> None:
    response = client.get(f"/data?{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert message in body["error"]
    assert body["request_id"] == response.headers["x-request-id"]


def test_a_cursor_keeps_its_order(client: TestClient, store: Store) -> None:
    cursor = client.get("/data?limit=1").json()["next_cursor"]
    response = client.get("/data", params={"cursor": cursor, "order": "asc"})
    assert response.status_code == 400
    assert "cursor was issued for order DESC" in response.json()["error"]


def test_request_id_is_echoed_when_sane(client: TestClient) -> None:
    for path in ("/data", "/stats", "/health", "/nowhere", "/openapi.json"):
        response = client.get(path, headers={"X-Request-ID": "trace-42.a_b"})
        assert response.headers["x-request-id"] == "trace-42.a_b", path
    graphql = client.post(
        "/graphql", json={"query": "{ health { db } }"}, headers={"X-Request-ID": "gql-1"}
    )
    assert graphql.headers["x-request-id"] == "gql-1"
    for insane in ("x" * 129, "two words", "semi;colon", ""):
        response = client.get("/health", headers={"X-Request-ID": insane})
        assert UUID.fullmatch(response.headers["x-request-id"]), insane
    first, second = client.get("/health"), client.get("/health")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    uuid.UUID(first.headers["x-request-id"])


def test_request_ids_do_not_repeat_when_the_random_module_is_reseeded(
    client: TestClient,
) -> None:
    ids = set()
    for _ in range(3):
        random.seed(1234)  # e.g. hypothesis reseeds it for every example
        ids.add(client.get("/health").headers["x-request-id"])
    assert len(ids) == 3


def test_unknown_path_and_method_are_json(client: TestClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found", "request_id": missing.headers["x-request-id"]}
    wrong = client.delete("/data")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "Method Not Allowed"


def test_stats_come_from_the_run_tables(client: TestClient, store: Store) -> None:
    body = client.get("/stats").json()
    assert body["records_total"] == len(store.records)
    # 2 runs x 4 sources x (inserted + updated); the failed source inserted 0.
    assert body["records_processed"] == (7 * 6 + 1 * 8)
    assert body["rows"] == {
        "rows_read": 80,
        "inserted": 42,
        "updated": 8,
        "unchanged": 16,
        "skipped": 0,
        "rejected": 8,
    }
    assert body["sources"] == ["coingecko", "coinpaprika", "csv", "csv2"]
    assert body["runs_total"] == 3
    assert body["assets_total"] == 3
    last = body["last_run"]
    assert last["id"] == store.run_ids[1]
    assert last["status"] == "success"
    assert last["duration_ms"] == 2500
    assert last["started_at"] == "2024-05-02T00:00:00+00:00"
    assert [s["source"] for s in last["sources"]] == ["coinpaprika", "coingecko", "csv", "csv2"]
    assert last["sources"][0] == {
        "source": "coinpaprika",
        "status": "success",
        "rows_read": 10,
        "inserted": 6,
        "updated": 1,
        "unchanged": 2,
        "skipped": 0,
        "rejected": 1,
        "error": None,
        "note": None,
        "started_at": "2024-05-01T00:00:00+00:00",
        "finished_at": "2024-05-01T00:00:01+00:00",
        "checkpoint_before": None,
        "checkpoint_after": None,
    }


def test_stats_on_an_empty_store(settings_client: TestClient) -> None:
    body = settings_client.get("/stats").json()
    assert body["records_total"] == body["records_processed"] == 0
    assert body["last_run"] is None
    assert body["sources"] == []


def test_openapi_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/health",
        "/data",
        "/stats",
        "/etl/run",
        "/candles",
        "/data.csv",
        "/data.ndjson",
        "/consensus",
        "/divergences",
    }
    names = [p["name"] for p in document["paths"]["/data"]["get"]["parameters"]]
    assert names == list(DATA_PARAMETERS)
    limit = document["paths"]["/data"]["get"]["parameters"][6]
    assert limit["schema"]["maximum"] == 1000


def test_an_unreachable_database_is_a_503_not_a_500(tmp_path: Path) -> None:
    url = (
        "postgresql://nobody@127.0.0.1:1/none"
        if ON_POSTGRESQL
        else f"sqlite:///{tmp_path}/missing-dir/kasparro.db"
    )
    config = make_settings(url, ETL_ON_STARTUP="false").app_config()
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        for path in ("/data", "/stats"):
            response = client.get(path, headers={"X-Request-ID": "down-1"})
            assert response.status_code == 503, path
            assert response.json() == {
                "error": "database unavailable; try again later",
                "request_id": "down-1",
            }
            assert response.headers["x-request-id"] == "down-1"


def test_a_bug_is_a_json_500_with_the_request_id(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("kasparro.db.queries.store_stats", broken)
    with TestClient(create_app(settings.app_config()), raise_server_exceptions=False) as client:
        response = client.get("/stats", headers={"X-Request-ID": "bug-1"})
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal error; quote the request_id when reporting it",
        "request_id": "bug-1",
    }
    assert response.headers["x-request-id"] == "bug-1"
