"""Scale-out: app replicas on one database, queries through DATABASE_READ_URL.

PostgreSQL: two real `kasparro serve` processes whose read URL logs in as a SELECT-only role
(through `localhost` rather than 127.0.0.1). The ETL loads through DATABASE_URL (the reader
could not write), both serve identical pages, pg_stat_activity shows the reader's
connections as `kasparro-read`, and revoking the reader's SELECT on `records` breaks
`/data` and GraphQL `records` on both: the proof that queries go through the read URL.

SQLite: the read URL is a read-only copy of the database file, a stand-in for a replica
that lags: what the ETL writes through DATABASE_URL shows in the queries only once the copy
catches up, while `runEtl` answers from the primary at once.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from kasparro.etl.pipeline import run_etl
from kasparro.gql.app import create_app
from kasparro.gql.engines import HEALTH_APPLICATION_NAME, READ_APPLICATION_NAME
from tests.conftest import ON_POSTGRESQL, make_settings
from tests.etl.conftest import make_config, query
from tests.ops.serving import kasparro_serve
from tests.support.waiting import after_a_run, wait_until

TOKEN = "scale-out-test-token"
ROWS = 1496 + 1274  # data.csv + data2.csv
PAGE_QUERY = """query ($after: String) {
  records(first: 1000, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { source recordId value timestamp asset { id sources } }
  }
}"""


def health_after_a_run(client: httpx.Client) -> dict[str, Any] | None:
    return after_a_run(client.get("/health").json())


def all_data(client: httpx.Client, **params: str) -> list[dict[str, Any]]:
    """Every row of /data, following next_cursor."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        paging = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = client.get("/data", params={**params, **paging})
        assert page.status_code == 200, page.text
        rows += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return rows


def all_records(client: httpx.Client) -> list[dict[str, Any]]:
    """Every record over GraphQL, following endCursor."""
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        body = client.post("/graphql", json={"query": PAGE_QUERY, "variables": {"after": after}})
        page = body.json()["data"]["records"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


@pytest.fixture
def reader_url(database_url: str, engine: Engine) -> Iterator[str]:
    """A SELECT-only role on the test database; its URL goes through `localhost`."""
    if not ON_POSTGRESQL:
        pytest.skip("a read-only role needs PostgreSQL")
    role = f"kasparro_reader_{os.getpid()}"
    database = make_url(database_url).database
    with engine.begin() as conn:
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {role}'))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    url = make_url(database_url).set(username=role, password=None, host="localhost")
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                {"r": role},
            )
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


def test_two_replicas_read_through_a_read_only_role(
    database_url: str, reader_url: str, engine: Engine, tmp_path: Path
) -> None:
    role = make_url(reader_url).username
    env = {
        "DATABASE_READ_URL": reader_url,
        "ETL_SOURCES": "csv,csv2",
        "ETL_ON_STARTUP": "true",
        "ADMIN_TOKEN": TOKEN,
    }
    with (
        kasparro_serve(database_url, tmp_path, "a", **env) as a,
        kasparro_serve(database_url, tmp_path, "b", **env) as b,
        httpx.Client(base_url=a.base_url, timeout=30) as one,
        httpx.Client(base_url=b.base_url, timeout=30) as two,
    ):
        for client in (one, two):
            health = wait_until(partial(health_after_a_run, client), 60, "a run")
            assert (health["db"], health["read_db"]) == ("ok", "ok")
        # The startup ETL (writes) went through DATABASE_URL: the reader could not write.
        loaded = query(engine, "SELECT count(*) AS n FROM records")[0].n
        assert loaded == ROWS

        rows = all_data(one)
        assert len(rows) == ROWS
        assert all_data(two) == rows
        assert all_data(one, symbol="btc", order="asc") == all_data(two, symbol="btc", order="asc")
        nodes = all_records(one)
        assert len(nodes) == ROWS and all_records(two) == nodes
        stats = [client.get("/stats").json() for client in (one, two)]
        assert [s["records_total"] for s in stats] == [ROWS, ROWS]

        sessions = query(
            engine,
            "SELECT usename, application_name FROM pg_stat_activity WHERE usename = :r",
            r=role,
        )
        names = {s.application_name for s in sessions}
        assert READ_APPLICATION_NAME in names <= {READ_APPLICATION_NAME, HEALTH_APPLICATION_NAME}

        with engine.begin() as conn:
            conn.execute(text(f"REVOKE SELECT ON records FROM {role}"))
        # (A fresh connection per request: uvicorn closes one after the app raised.)
        for base in (a.base_url, b.base_url):
            assert httpx.get(f"{base}/data", params={"limit": "1"}).status_code == 500
            query_one = {"query": "{ records(first: 1) { nodes { value } } }"}
            body = httpx.post(f"{base}/graphql", json=query_one).json()
            assert body["data"] is None and body["errors"]
            assert httpx.get(f"{base}/health").json()["read_db"] == "ok"  # it still logs in
            # The ETL and runEtl's answer use DATABASE_URL, untouched by the revoke.
            auth = {"Authorization": f"Bearer {TOKEN}"}
            run = httpx.post(f"{base}/etl/run", headers=auth, timeout=30).json()
            assert (run["status"], run["trigger"], len(run["sources"])) == ("success", "manual", 2)
        a.terminate()
        b.terminate()


def sqlite_copy(source: Path, target: Path) -> None:
    """Copy a live SQLite database with the backup API (what a replica would hold)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


@pytest.mark.slow
def test_sqlite_read_url_is_a_lagging_read_only_copy(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    if ON_POSTGRESQL:
        pytest.skip("the PostgreSQL variant is test_two_replicas_read_through_a_read_only_role")
    primary = Path(make_url(database_url).database or "")
    replica = tmp_path / "replica.db"
    run_etl(engine, make_config(sources=("csv",)))
    sqlite_copy(primary, replica)
    settings = make_settings(
        database_url,
        DATABASE_READ_URL=f"sqlite:///file:{replica}?mode=ro&uri=true",
        ADMIN_TOKEN=TOKEN,
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(settings.app_config())) as client:
        assert client.get("/health").json()["read_db"] == "ok"
        assert latest_sources(client) == {"csv"}  # kept by the app from now on
        run = client.post("/etl/run", headers=auth, json={"sources": ["csv2"]}).json()
        # runEtl answers from the primary, with every source row it just wrote...
        assert (run["status"], run["sources"][0]["inserted"]) == ("success", 1274)
        # ...while queries read the copy, which has not caught up yet.
        assert all_data(client, source="csv2") == []
        assert len(all_data(client)) == 1496
        assert client.get("/stats").json()["records_total"] == 1496
        assert latest_sources(client) == {"csv"}

        sqlite_copy(primary, replica)  # the replica catches up
        assert len(all_data(client, source="csv2")) == 1274
        assert client.get("/stats").json()["records_total"] == ROWS
        # The copy's latest_version moved with the load: the kept prices are read again.
        assert latest_sources(client) == {"csv", "csv2"}


def latest_sources(client: TestClient) -> set[str]:
    """The sources ``latestPrices`` names, through the app's read URL."""
    answer = client.post("/graphql", json={"query": "{ latestPrices { source } }"}).json()
    return {price["source"] for price in answer["data"]["latestPrices"]}


def test_an_unreachable_read_database_is_a_503_naming_it(database_url: str, tmp_path: Path) -> None:
    broken = (
        "postgresql://nobody@127.0.0.1:1/none"
        if ON_POSTGRESQL
        else f"sqlite:///{tmp_path}/missing-dir/replica.db"
    )
    settings = make_settings(database_url, DATABASE_READ_URL=broken)
    health = "{ health { db readDb etlLastRun detail } }"
    with TestClient(create_app(settings.app_config())) as client:
        rest = client.get("/health")
        graphql = client.post("/graphql", json={"query": health}).json()
        data = client.get("/data")
    assert rest.status_code == 503
    body = rest.json()
    assert (body["db"], body["read_db"], body["etl_last_run"]) == ("ok", "error", "never")
    assert body["detail"] == "read database unreachable"
    assert graphql["data"]["health"]["readDb"] == "error"
    assert data.status_code == 503  # queries need the read database
