"""ETL_INTERVAL_SECONDS while serving: triggers, and one shared schedule across replicas.

Real `kasparro serve` processes on the test database. A scheduled tick runs only when it
gets the ETL lock and no run started within the interval; a tick that does not run records
nothing (docs/etl.md "Runs"), so replicas neither overlap nor fill etl_runs with skipped rows.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from kasparro.db.tables import etl_runs
from kasparro.etl.pipeline import LOCKED_ERROR
from tests.ops.serving import kasparro_serve
from tests.support.upstream import PAPRIKA, TICKERS, fake_upstream, recorded, slow
from tests.support.waiting import wait_until

TOKEN = "scheduling-test-token"
RUNS_QUERY = "{ etlRuns(first: 50) { id status trigger startedAt finishedAt } }"


def graphql_runs(client: httpx.Client) -> list[dict[str, Any]]:
    """etlRuns over GraphQL, oldest first."""
    body = client.post("/graphql", json={"query": RUNS_QUERY}).json()
    runs: list[dict[str, Any]] = body["data"]["etlRuns"]
    return runs[::-1]


def wait_for(client: httpx.Client, done: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Poll etlRuns until ``done`` runs have finished; return all runs, oldest first."""

    def finished() -> list[dict[str, Any]] | None:
        runs = graphql_runs(client)
        return (
            runs
            if sum(run["status"] not in ("RUNNING", "SKIPPED") for run in runs) >= done
            else None
        )

    return wait_until(finished, timeout, f"{done} finished runs")


@pytest.mark.slow
def test_startup_then_schedule_then_manual_triggers(database_url: str, tmp_path: Path) -> None:
    env = {
        "ETL_SOURCES": "csv",
        "ETL_ON_STARTUP": "true",
        "ETL_INTERVAL_SECONDS": "1",
        "ADMIN_TOKEN": TOKEN,
    }
    with (
        kasparro_serve(database_url, tmp_path, "serve", **env) as served,
        httpx.Client(base_url=served.base_url, timeout=30) as client,
    ):
        runs = wait_for(client, 3)
        assert [run["trigger"] for run in runs[:3]] == ["startup", "schedule", "schedule"]
        assert {run["status"] for run in runs[:3]} == {"SUCCESS"}
        starts = [run["startedAt"] for run in runs[:3]]
        assert starts == sorted(starts)

        auth = {"Authorization": f"Bearer {TOKEN}"}
        # A manual run that meets a scheduled one holding the lock is a recorded skip; retry.
        for _ in range(10):
            rest = client.post("/etl/run", headers=auth, json={"sources": ["csv"]}).json()
            assert rest["trigger"] == "manual"
            if rest["status"] == "success":
                break
            assert (rest["status"], rest["error"]) == ("skipped", LOCKED_ERROR)
        assert rest["status"] == "success"
        assert client.get("/stats").json()["last_run"]["id"] >= rest["id"]

        mutation = 'mutation { runEtl(sources: ["csv"]) { id status trigger } }'
        graphql = client.post("/graphql", json={"query": mutation}, headers=auth).json()
        assert graphql["data"]["runEtl"]["trigger"] == "manual"

        triggers = {run["trigger"] for run in graphql_runs(client)}
        assert triggers == {"startup", "schedule", "manual"}
        last = client.get("/stats").json()["last_run"]
        assert last["trigger"] in ("schedule", "manual") and last["status"] == "success"


def overlapping(runs: list[Any]) -> list[tuple[int, int]]:
    """Pairs of consecutive runs (by start) where the later started before the earlier ended."""
    return [(a.id, b.id) for a, b in itertools.pairwise(runs) if b.started_at < a.finished_at]


@pytest.mark.slow
def test_two_replicas_share_one_schedule(database_url: str, engine: Engine, tmp_path: Path) -> None:
    with fake_upstream() as upstream:
        # Every run takes over a second (a slow upstream), longer than the 1 s interval, so
        # the other replica's ticks meet the lock held.
        upstream.serve(TICKERS, slow(1.2, recorded(PAPRIKA)))
        env = {
            "ETL_SOURCES": "coinpaprika",
            "COINPAPRIKA_BASE_URL": upstream.coinpaprika_url,
            "ETL_ON_STARTUP": "true",
            "ETL_INTERVAL_SECONDS": "1",
        }
        with (
            kasparro_serve(database_url, tmp_path, "a", **env) as a,
            kasparro_serve(database_url, tmp_path, "b", **env) as b,
        ):
            time.sleep(7)
            a.terminate()
            b.terminate()

    with engine.connect() as conn:
        runs = list(conn.execute(select(etl_runs).order_by(etl_runs.c.started_at)))
    worked = [run for run in runs if run.status != "skipped"]
    assert all(run.finished_at is not None for run in runs)
    assert overlapping(worked) == []
    # One schedule for both: a scheduled run starts at least the interval after the last.
    gaps = [
        (b.started_at - a.started_at).total_seconds()
        for a, b in itertools.pairwise(worked)
        if b.trigger == "schedule"
    ]
    assert gaps and min(gaps) >= 1.0
    assert {run.pid for run in worked} <= {a.process.pid, b.process.pid}
    # Skipped rows come only from startup (both replicas started together); ticks that met
    # the lock held were logged, not recorded.
    skipped = [run for run in runs if run.status == "skipped"]
    assert {run.trigger for run in skipped} <= {"startup"} and len(skipped) <= 1
    ticks = [
        line
        for served in (a, b)
        for line in served.log_lines()
        if line["message"] == f"scheduled ETL run not needed: {LOCKED_ERROR}"
    ]
    assert ticks, a.log() + b.log()
    assert all(line["trigger"] == "schedule" for line in ticks)
