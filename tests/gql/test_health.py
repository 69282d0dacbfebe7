from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from starlette.testclient import TestClient

from kasparro.db.tables import etl_runs
from kasparro.gql.app import create_app
from kasparro.settings import Settings
from tests.conftest import ON_POSTGRESQL, make_settings

HEALTH_QUERY = {"query": "{ health { db etlLastRun database detail } }"}


def test_health_on_an_empty_store(settings: Settings) -> None:
    with TestClient(create_app(settings.app_config())) as client:
        rest = client.get("/health")
        graphql = client.post("/graphql", json=HEALTH_QUERY)
    backend = "postgresql" if ON_POSTGRESQL else "sqlite"
    assert rest.status_code == 200
    assert rest.json() == {
        "db": "ok",
        "etl_last_run": "never",
        "database": backend,
        "detail": None,
        "read_db": None,
        "slow": False,
    }
    assert graphql.json() == {
        "data": {"health": {"db": "ok", "etlLastRun": "never", "database": backend, "detail": None}}
    }


def test_health_reports_the_newest_run_that_did_work(settings: Settings, engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(etl_runs),
            [
                {"status": "partial", "trigger": "startup", "started_at": now.replace(year=2020)},
                {"status": "success", "trigger": "manual", "started_at": now},
                {
                    "status": "skipped",
                    "trigger": "startup",
                    "started_at": now + timedelta(seconds=1),
                },
            ],
        )
    with TestClient(create_app(settings.app_config())) as client:
        assert client.get("/health").json()["etl_last_run"] == "success"
        body = client.post("/graphql", json=HEALTH_QUERY).json()
        assert body["data"]["health"]["etlLastRun"] == "success"


def unreachable_url(tmp_path: Path) -> str:
    return (
        "postgresql://nobody@127.0.0.1:1/none"
        if ON_POSTGRESQL
        else f"sqlite:///{tmp_path}/missing-dir/kasparro.db"
    )


@pytest.mark.slow
def test_unreachable_database_is_a_503_that_names_no_host_unless_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = unreachable_url(tmp_path)
    # What the database said: PostgreSQL names host and port, SQLite nothing so telling.
    problem = "127.0.0.1" if ON_POSTGRESQL else "unable to open database file"
    app = create_app(make_settings(url).app_config())
    with caplog.at_level(logging.WARNING), TestClient(app) as client:
        rest = client.get("/health")
        graphql = client.post("/graphql", json=HEALTH_QUERY)
    assert rest.status_code == 503
    body = rest.json()
    assert body["db"] == "error"
    assert body["etl_last_run"] == "unknown"
    assert body["detail"] == "database unreachable"
    assert problem not in rest.text
    assert graphql.json()["data"]["health"]["db"] == "error"
    assert graphql.json()["data"]["health"]["detail"] == "database unreachable"
    assert problem not in graphql.text
    assert problem in caplog.text  # the whole story is in the log

    debug = create_app(make_settings(url, DEBUG="true").app_config())
    with TestClient(debug) as client:
        detail = client.get("/health").json()["detail"]
    assert detail.startswith("database unreachable: ") and problem in detail
