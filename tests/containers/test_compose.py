"""docker-compose.yml run with docker-compose: PostgreSQL and the app, both healthy, the ETL
loaded, the data kept across ``down`` / ``up`` in the volume, ``kasparro prune`` by ``exec``.

The file runs as written but for its networking (``engine.loopback_compose``: the two
services share one namespace with only a loopback, nothing published). ``postgres:16`` is
a stand-in built by ``.ci/containers`` from Debian's PostgreSQL 15 (docs/operations.md lists the
differences). The run uses the file's offline example, ``ETL_SOURCES=csv,csv2``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.containers.engine import (
    docker,
    get,
    health,
    loopback_compose,
    run,
    serving,
    wait_for,
)
from tests.reliability.figures import report

CSV_ROWS = 1496 + 1274


@dataclass(frozen=True)
class Project:
    name: str
    file: Path

    def compose(self, *args: str, timeout: float = 300) -> str:
        return run(
            ["docker-compose", "-p", self.name, "-f", str(self.file), *args], timeout=timeout
        )

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).strip()

    def up(self) -> tuple[str, str]:
        """``up -d``; wait until both services are healthy; their container ids."""
        self.compose("up", "-d", timeout=900)
        db, app = self.container("db"), self.container("app")
        wait_for("PostgreSQL healthy", lambda: health(db) == "healthy", 60)
        wait_for("the app answers", lambda: serving(app), 60)
        return db, app


@pytest.fixture(scope="module")
def project(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The compose project, built (from the layers ``image`` left in the cache), not up."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    file = tmp_path_factory.mktemp("compose") / "docker-compose.yml"
    file.write_text(yaml.safe_dump(loopback_compose(compose, REPO)), encoding="utf-8")
    project = Project(f"kasparro-ci-{os.getpid()}", file)
    os.environ["ETL_SOURCES"] = "csv,csv2"
    os.environ["ADMIN_TOKEN"] = secrets.token_urlsafe(24)
    try:
        project.compose("build", timeout=900)
        yield project
    finally:
        project.compose("down", "--volumes", "--rmi", "local", "--timeout", "10", timeout=120)
        del os.environ["ETL_SOURCES"], os.environ["ADMIN_TOKEN"]


def finished_stats(app: str) -> dict[str, Any]:
    stats: dict[str, Any] = {}

    def done() -> bool:
        stats.update(get(app, "/stats").json())
        return stats["last_run"] is not None and stats["last_run"]["status"] != "running"

    wait_for("the startup ETL run finishes", done, 90)
    return stats


def test_up_both_healthy_and_the_etl_loads_into_postgresql(project: Project) -> None:
    db, app = project.up()
    stats = finished_stats(app)
    assert stats["records_total"] == CSV_ROWS
    assert (stats["last_run"]["status"], stats["last_run"]["trigger"]) == ("success", "startup")
    assert sorted(stats["sources"]) == ["csv", "csv2"]
    answer = get(app, "/health")
    assert answer.status == 200
    assert (answer.json()["db"], answer.json()["database"]) == ("ok", "postgresql")
    # The app's image HEALTHCHECK (first run one 30 s interval after the start).
    wait_for("the app healthy", lambda: health(app) == "healthy", 60)
    assert health(db) == "healthy"
    # The ETL wrote into the database container, not into a file beside the app.
    count = docker(
        "exec",
        db,
        "psql",
        "-U",
        "kasparro",
        "-d",
        "kasparro",
        "-tAc",
        "SELECT count(*) FROM records",
    )
    assert int(count) == CSV_ROWS


def test_data_survives_down_and_up_with_the_volume(
    project: Project, pytestconfig: pytest.Config
) -> None:
    before = finished_stats(project.container("app"))
    started = time.monotonic()
    project.compose("down", "--timeout", "10", timeout=120)
    down = time.monotonic() - started
    assert project.container("app") == ""
    _, app = project.up()
    up = time.monotonic() - started - down
    summary = f"down {down:.1f} s, up until both serve {up:.1f} s"
    figures = {"down_seconds": down, "up_seconds": up}
    report(pytestconfig, "compose-restart", summary, figures, label="docker-compose")
    after = finished_stats(app)
    assert after["records_total"] == before["records_total"] == CSV_ROWS
    # A second startup run, which found the files already loaded.
    assert after["runs_total"] == before["runs_total"] + 1
    assert after["last_run"]["id"] == before["last_run"]["id"] + 1
    unchanged = {source["source"]: source["inserted"] for source in after["last_run"]["sources"]}
    assert unchanged == {"csv": 0, "csv2": 0}


def test_prune_runs_by_exec(project: Project) -> None:
    app = project.container("app")
    # RETENTION_DAYS=90 in the compose file is the age; the bundled prices are from 2020-2021.
    out = project.compose("exec", "-T", "app", "kasparro", "prune", "--records")
    lines = out.splitlines()
    assert lines[0].startswith("pruning raw_payloads, records dated before ")
    assert f"records: {CSV_ROWS} deleted" in lines
    assert get(app, "/stats").json()["records_total"] == 0
