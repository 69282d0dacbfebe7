"""``/metrics``: exact values parsed from the Prometheus text of a real app on a real database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, event
from starlette.testclient import TestClient

from kasparro.db.engine import create_db_engine
from kasparro.gql.observability.instruments import MAX_OPERATIONS, GraphQLMetrics
from kasparro.gql.observability.scrape import pool_families
from tests.db.runlog import (
    CSV_OK_1,
    CSV_OK_2,
    GECKO_FAILED_2,
    GECKO_OK_1,
    SCENARIO,
    SCENARIO_ROWS,
    T0,
    Run,
    SourceRun,
    write_runs,
)
from tests.gql.observed import observed_app

Labels = dict[str, str]


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text: str = response.text
    return text


def samples(text: str, name: str) -> list[tuple[Labels, float]]:
    """Every sample called ``name`` (``…_total``, ``…_count``, ``…_bucket``…) with its labels."""
    return [
        (dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample ``name`` with exactly ``labels``, or None when absent."""
    found = [v for sample_labels, v in samples(text, name) if sample_labels == labels]
    assert len(found) <= 1
    return found[0] if found else None


def by(text: str, name: str, key: str, **where: str) -> dict[str, float]:
    """``name``'s samples matching ``where``, keyed by the value of the ``key`` label."""
    return {
        labels[key]: v
        for labels, v in samples(text, name)
        if all(labels.get(k) == w for k, w in where.items())
    }


def http_count(text: str, route: str, method: str = "GET", status: str = "200") -> float | None:
    return value(text, "kasparro_http_requests_total", route=route, method=method, status=status)


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(observed_app(database_url), raise_server_exceptions=False) as client:
        yield client


def app_engine(client: TestClient) -> Engine:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    return engine


# --- HTTP requests -------------------------------------------------------------------------


def test_request_counter_grows_by_exactly_the_requests_made(client: TestClient) -> None:
    assert http_count(scrape(client), "/data") is None
    for _ in range(3):
        assert client.get("/data").json() == {"data": []}
    text = scrape(client)
    assert http_count(text, "/data") == 3
    for _ in range(2):
        client.get("/data")
    text = scrape(client)
    assert http_count(text, "/data") == 5
    # The two earlier scrapes were requests too; the one in progress is counted once it ends.
    assert http_count(text, "/metrics") == 2


def test_latency_histogram_counts_every_request(client: TestClient) -> None:
    for _ in range(4):
        client.get("/data")
    text = scrape(client)
    name = "kasparro_http_request_duration_seconds"
    assert value(text, f"{name}_count", route="/data", method="GET") == 4
    assert value(text, f"{name}_bucket", route="/data", method="GET", le="+Inf") == 4
    total = value(text, f"{name}_sum", route="/data", method="GET")
    assert total is not None and 0 < total < 4 * 10
    buckets = [v for labels, v in samples(text, f"{name}_bucket") if labels["route"] == "/data"]
    assert buckets == sorted(buckets)  # cumulative


def test_routes_are_templates_and_unknown_paths_are_other(client: TestClient) -> None:
    for path in (
        "/items/1",
        "/items/2",
        "/items/3",
        "/v1/items/9",
        "/static/app.js",
        "/nope",
        "/x/y",
    ):
        client.get(path)
    text = scrape(client)
    counts = by(text, "kasparro_http_requests_total", "route", method="GET")
    assert counts["/items/{id}"] == 3
    assert counts["/v1/items/{id}"] == 1
    assert counts["/static/{path}"] == 1
    assert http_count(text, "other", "GET", "404") == 2
    routes = {labels["route"] for labels, _ in samples(text, "kasparro_http_requests_total")}
    # (this scrape is the first: it is counted once it has answered)
    assert routes == {"/items/{id}", "/v1/items/{id}", "/static/{path}", "other"}


def test_errors_and_odd_methods_keep_bounded_labels(client: TestClient) -> None:
    assert client.get("/boom").status_code == 500
    assert client.post("/data").status_code == 405
    assert client.request("BREW", "/data").status_code == 405
    text = scrape(client)
    assert http_count(text, "/boom", "GET", "500") == 1
    assert http_count(text, "/data", "POST", "405") == 1
    assert http_count(text, "/data", "OTHER", "405") == 1


def test_two_apps_in_one_process_do_not_share_counters(database_url: str) -> None:
    with (
        TestClient(observed_app(database_url)) as first,
        TestClient(observed_app(database_url)) as second,
    ):
        for _ in range(3):
            first.get("/data")
        second.get("/data")
        assert http_count(scrape(first), "/data") == 3
        assert http_count(scrape(second), "/data") == 1


# --- GraphQL operations --------------------------------------------------------------------


def gql(client: TestClient, query: str, operation: str | None = None) -> Any:
    response = client.post("/graphql", json={"query": query, "operationName": operation})
    return response.json() if response.status_code == 200 else response.status_code


def test_graphql_operations_by_name_type_and_status(client: TestClient) -> None:
    assert gql(client, "query Hello { hello }") == {"data": {"hello": "hello world"}}
    gql(client, 'query Hello { hello(name: "ada") }')
    gql(client, "{ hello }")
    assert gql(client, "query Broken { fail }")["errors"][0]["message"] == "resolver failed"
    assert gql(client, "mutation Touch { touch }") == {"data": {"touch": 1}}
    gql(client, "query A { hello } query B { hello }", "B")
    gql(client, "query {")  # syntax error: nothing to name
    # No such operation in the document: Strawberry answers 400.
    assert gql(client, "query Hello { hello }", "Missing") == 400
    gql(client, "query Typo { helo }")  # validation error
    text = scrape(client)
    ops = {
        (labels["operation"], labels["type"], labels["status"]): v
        for labels, v in samples(text, "kasparro_graphql_operations_total")
    }
    # A failed operation whose name never succeeded earns no label of its own.
    assert ops == {
        ("Hello", "query", "success"): 2,
        ("anonymous", "query", "success"): 1,
        ("other", "query", "error"): 2,
        ("Touch", "mutation", "success"): 1,
        ("B", "query", "success"): 1,
        ("unknown", "unknown", "error"): 2,
    }
    name = "kasparro_graphql_operation_duration_seconds_count"
    assert value(text, name, operation="Hello", type="query") == 2
    assert value(text, name, operation="Touch", type="mutation") == 1
    # Every GraphQL request is also an HTTP request on the /graphql route.
    assert by(text, "kasparro_http_requests_total", "status", route="/graphql") == {
        "200": 8,
        "400": 1,
    }


def test_operation_names_are_capped_per_app() -> None:
    registry = CollectorRegistry()
    metrics = GraphQLMetrics(registry)
    for n in range(MAX_OPERATIONS + 5):
        metrics.observe(f"Op{n}", "query", True, 0.001)
    metrics.observe("Op0", "query", True, 0.001)
    counted = {
        sample.labels["operation"]: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "kasparro_graphql_operations_total"
    }
    assert len(counted) == MAX_OPERATIONS + 1
    assert counted["other"] == 5
    assert counted["Op0"] == 2


# --- ETL, from the run tables --------------------------------------------------------------


def test_etl_metrics_come_from_the_run_tables(client: TestClient, engine: Engine) -> None:
    text = scrape(client)
    assert value(text, "kasparro_db_up") == 1
    assert samples(text, "kasparro_etl_runs_total") == []
    assert value(text, "kasparro_etl_runs_running") == 0

    write_runs(engine, SCENARIO)
    text = scrape(client)
    assert value(text, "kasparro_db_up") == 1
    runs = {
        (labels["status"], labels["trigger"]): v
        for labels, v in samples(text, "kasparro_etl_runs_total")
    }
    assert runs == {
        ("success", "startup"): 1,
        ("partial", "schedule"): 1,
        ("skipped", "schedule"): 1,
    }
    assert value(text, "kasparro_etl_runs_running") == 1
    for source, outcomes in SCENARIO_ROWS.items():
        assert by(text, "kasparro_etl_rows_total", "outcome", source=source) == outcomes
    assert by(text, "kasparro_etl_source_last_success_timestamp_seconds", "source") == {
        "csv": CSV_OK_2.timestamp(),
        "coingecko": GECKO_OK_1.timestamp(),
    }
    status = "kasparro_etl_source_last_status"
    assert by(text, status, "status", source="csv") == {
        "running": 1,
        "success": 0,
        "failed": 0,
        "skipped": 0,
    }
    assert by(text, status, "status", source="coingecko") == {
        "running": 0,
        "success": 0,
        "failed": 1,
        "skipped": 0,
    }


def last_run_of_each_source(text: str) -> dict[str, tuple[str, float | None]]:
    """What an operator reads off /metrics: each source's newest status and last success."""
    newest = {
        labels["source"]: labels["status"]
        for labels, v in samples(text, "kasparro_etl_source_last_status")
        if v == 1
    }
    success = by(text, "kasparro_etl_source_last_success_timestamp_seconds", "source")
    return {source: (status, success.get(source)) for source, status in newest.items()}


def test_an_operator_can_tell_from_metrics_whether_each_sources_last_run_succeeded(
    client: TestClient, engine: Engine
) -> None:
    day2 = T0.replace(day=2)
    write_runs(engine, SCENARIO[:2])  # run 2: csv succeeded, coingecko failed
    assert last_run_of_each_source(scrape(client)) == {
        "csv": ("success", CSV_OK_2.timestamp()),
        "coingecko": ("failed", GECKO_OK_1.timestamp()),
    }
    assert GECKO_FAILED_2 > GECKO_OK_1  # the failure is newer than the last success

    # The next run fixes coingecko and breaks csv; a new source appears and fails at once.
    write_runs(
        engine,
        [
            Run(
                "partial",
                "schedule",
                day2,
                day2,
                {
                    "csv": SourceRun("failed", day2),
                    "coingecko": SourceRun("success", day2),
                    "coinpaprika": SourceRun("failed", day2),
                },
            )
        ],
    )
    assert last_run_of_each_source(scrape(client)) == {
        "csv": ("failed", CSV_OK_2.timestamp()),
        "coingecko": ("success", day2.timestamp()),
        "coinpaprika": ("failed", None),
    }
    assert CSV_OK_1 < CSV_OK_2


def test_database_down_reports_db_up_0_and_still_answers(unreachable_url: str) -> None:
    with TestClient(observed_app(unreachable_url)) as client:
        client.get("/data")
        text = scrape(client)
    assert value(text, "kasparro_db_up") == 0
    for family in (
        "kasparro_etl_runs_total",
        "kasparro_etl_rows_total",
        "kasparro_etl_source_last_success_timestamp_seconds",
        "kasparro_etl_source_last_status",
    ):
        assert samples(text, family) == []
    # Request metrics do not depend on the database.
    assert http_count(text, "/data") == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'no-such-dir' / 'kasparro.db'}"
    return "postgresql://postgres@127.0.0.1:9/kasparro_obs"  # nothing listens on port 9


def test_no_engine_yet_reports_db_up_0() -> None:
    with TestClient(observed_app(None)) as client:
        text = scrape(client)
    assert value(text, "kasparro_db_up") == 0
    assert samples(text, "kasparro_db_pool_size") == []


# --- scrape mechanics: pool gauges, worker thread ------------------------------------------


def test_pool_gauges(client: TestClient) -> None:
    engine = app_engine(client)
    size = engine.pool.size()  # type: ignore[attr-defined]
    with engine.connect(), engine.connect():
        text = scrape(client)
    assert value(text, "kasparro_db_pool_size") == size
    assert value(text, "kasparro_db_pool_checked_out") == 2  # the scrape's own is back by then
    assert value(text, "kasparro_db_pool_overflow") == 0
    assert value(scrape(client), "kasparro_db_pool_checked_out") == 0


def test_scrape_reads_the_database_off_the_event_loop(client: TestClient) -> None:
    engine = app_engine(client)
    threads: list[int] = []

    def record(*args: object) -> None:
        threads.append(threading.get_ident())

    event.listen(engine, "before_cursor_execute", record)
    try:
        scrape(client)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    loop_thread = client.get("/loop-thread").json()["thread"]
    assert len(threads) == 4
    assert loop_thread not in threads


def test_pools_that_keep_no_counts_report_nothing(tmp_path: Path) -> None:
    memory = create_db_engine("sqlite://")  # SingletonThreadPool in SQLAlchemy 2.1
    on_file = create_db_engine(f"sqlite:///{tmp_path / 'pool.db'}")  # QueuePool
    try:
        assert list(pool_families(memory)) == []
        assert [family.name for family in pool_families(on_file)] == [
            "kasparro_db_pool_size",
            "kasparro_db_pool_checked_out",
            "kasparro_db_pool_overflow",
        ]
    finally:
        memory.dispose()
        on_file.dispose()
