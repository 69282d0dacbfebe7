"""The real ETL scheduler in the app's lifespan, driven over HTTP on the shipped CSV files."""

from __future__ import annotations

from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.support.waiting import after_a_run, wait_until

TOKEN = "wiring-token"


def test_post_etl_run_loads_the_csv_files_and_the_store_serves_them(database_url: str) -> None:
    config = make_settings(database_url, ADMIN_TOKEN=TOKEN).app_config()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(config)) as client:
        assert client.get("/stats").json()["last_run"] is None
        response = client.post("/etl/run", headers=auth, json={"sources": ["csv", "csv2"]})
        assert response.status_code == 200, response.text
        run = response.json()
        assert run["status"] == "success", run
        assert run["trigger"] == "manual"
        assert [s["source"] for s in run["sources"]] == ["csv", "csv2"]
        inserted = sum(s["inserted"] for s in run["sources"])
        assert inserted > 1000

        stats = client.get("/stats").json()
        assert stats["records_total"] == inserted
        assert stats["records_processed"] == inserted
        assert stats["last_run"]["id"] == run["id"]
        assert stats["sources"] == ["csv", "csv2"]

        page = client.get("/data", params={"symbol": "btc", "limit": 5}).json()
        assert {row["symbol"] for row in page["data"]} == {"BTC"}
        assert page["next_cursor"]

        again = client.post(
            "/graphql",
            json={"query": 'mutation { runEtl(sources: ["csv"]) { status sources { inserted } } }'},
            headers=auth,
        ).json()
        assert again["data"]["runEtl"] == {"status": "SUCCESS", "sources": [{"inserted": 0}]}


def test_startup_run_happens_in_the_background(database_url: str) -> None:
    config = make_settings(database_url, ETL_ON_STARTUP="true", ETL_SOURCES="csv").app_config()
    with TestClient(create_app(config)) as client:
        assert client.get("/health").status_code == 200  # served while the ETL runs
        health = wait_until(
            lambda: after_a_run(client.get("/health").json()), 60, "the startup run"
        )
        assert health["etl_last_run"] == "success"
        runs = client.post("/graphql", json={"query": "{ etlRuns { trigger status } }"}).json()
        assert runs["data"]["etlRuns"] == [{"trigger": "startup", "status": "SUCCESS"}]
