"""A database outage in GraphQL is said as such (SERVICE_UNAVAILABLE, like REST's 503), not
masked as "Unexpected error." and logged as a bug."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.gql.errors import DATABASE_UNAVAILABLE
from tests.conftest import ON_POSTGRESQL, make_settings

QUERIES = {
    "records": "{ records(first: 2) { nodes { source } } }",
    "latestPrices": "{ latestPrices { value } }",
    "assets": "{ assets { id } }",
    "etlRuns": "{ etlRuns { id } }",
    "stats": "{ stats { recordsTotal } }",
}


def test_graphql_reports_an_unreachable_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = (
        "postgresql://nobody@127.0.0.1:1/none"
        if ON_POSTGRESQL
        else f"sqlite:///{tmp_path}/missing-dir/kasparro.db"
    )
    config = make_settings(url, ETL_ON_STARTUP="false").app_config()
    with TestClient(create_app(config)) as client:
        for field, query in QUERIES.items():
            response = client.post("/graphql", json={"query": query})
            assert response.status_code == 200
            assert response.json() == {
                "data": None,
                "errors": [
                    {
                        "message": DATABASE_UNAVAILABLE,
                        "locations": [{"line": 1, "column": 3}],
                        "path": [field],
                        "extensions": {"code": "SERVICE_UNAVAILABLE", "retryAfter": 5},
                    }
                ],
            }
        body = client.post("/graphql", json={"query": "{ health { db } }"}).json()
        assert body == {"data": {"health": {"db": "error"}}}
    # Warnings, not errors with a traceback: an outage is not a bug.
    graphql_logs = [r for r in caplog.records if r.name == "kasparro.gql.schema"]
    assert {r.levelno for r in graphql_logs} == {logging.WARNING}
    assert all(r.exc_info is None for r in graphql_logs)
