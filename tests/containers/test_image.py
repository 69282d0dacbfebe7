"""The image, built from the unmodified Dockerfile and run the way users run it.

Stand-ins: ``.ci/containers`` builds ``python:3.11-slim`` locally from Debian bookworm
(Debian's Python 3.11, not the official image's own build; docs/operations.md lists the
differences), so these tests check the Dockerfile and the app in it, not the official base
image. The container has no network but its loopback (``--network none``): the API sources fail at
once, the bundled CSVs load.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.containers.engine import docker, get, health, inspect, logs, serving, wait_for
from tests.ops.test_lock import LOCK, read_lock
from tests.reliability.figures import report

GRACE_SECONDS = 8  # kasparro/serve.py GRACEFUL_SHUTDOWN_SECONDS
CSV_ROWS = 1496 + 1274


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    name = f"kasparro-ci-app-{os.getpid()}"
    docker("run", "--detach", "--network", "none", "--name", name, image)
    try:
        wait_for("the app answers /health", lambda: serving(name), 60)
        yield name
    finally:
        docker("rm", "--force", name, check=False)


def finished_stats(container: str) -> dict[str, object]:
    stats: dict[str, object] = {}

    def loaded() -> bool:
        stats.update(get(container, "/stats").json())
        last = stats.get("last_run")
        return isinstance(last, dict) and last["status"] != "running"

    wait_for("the startup ETL run finishes", loaded, 90)
    return stats


def test_the_runtime_image_has_no_wheels_and_the_locked_versions(image: str) -> None:
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
    assert "/wheels" not in history
    offline = ["run", "--rm", "--network", "none", image]
    listing = docker(*offline, "ls", "/")
    assert "wheels" not in listing.split()
    script = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): d.version "
        "for d in m.distributions()}))"
    )
    installed = json.loads(docker(*offline, "python", "-c", script))
    locked = {name: pin.version for name, pin in read_lock(LOCK.read_text()).items()}
    assert {name: installed.get(name) for name in locked} == locked
    # Nothing beyond the lock and the project itself (the venv has no pip of its own).
    assert set(installed) - set(locked) == {"kasparro"}


def test_the_build_is_clean(image_build: tuple[str, str]) -> None:
    _, output = image_build
    assert "Successfully tagged" in output
    # useradd warned about a --system uid outside SYS_UID_MIN..SYS_UID_MAX.
    assert "warning" not in output.lower(), output


def test_it_runs_as_a_non_root_user(image: str, container: str) -> None:
    assert inspect(image, "{{.Config.User}}") == "10001:10001"
    status = docker("exec", container, "cat", "/proc/1/status")
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == ["10001"] * 4
    assert docker("exec", container, "id", "-un").strip() == "kasparro"
    assert docker("exec", container, "pwd").strip() == "/app"


def test_health_and_stats_with_the_bundled_data(container: str) -> None:
    stats = finished_stats(container)
    assert stats["records_total"] == CSV_ROWS
    last_run = stats["last_run"]
    assert isinstance(last_run, dict)
    # Offline: both APIs fail, both bundled CSVs load.
    assert (last_run["status"], last_run["error"]) == ("partial", "failed: coinpaprika, coingecko")
    by_source = {source["source"]: source for source in last_run["sources"]}
    assert (by_source["csv"]["status"], by_source["csv"]["inserted"]) == ("success", 1496)
    assert (by_source["csv2"]["status"], by_source["csv2"]["inserted"]) == ("success", 1274)
    answer = get(container, "/health")
    assert answer.status == 200
    assert answer.json() | {"detail": None} == {
        "db": "ok",
        "database": "sqlite",
        "etl_last_run": "partial",
        "read_db": None,
        "detail": None,
        "slow": False,
    }
    page = get(container, "/data?symbol=btc&limit=1").json()
    assert page["data"][0]["asset_id"] == "bitcoin"


def test_the_etl_cli_works_from_any_directory(container: str) -> None:
    # From / (not the image's WORKDIR) into a new database: the inputs' defaults are the
    # copies installed with the package.
    database = "DATABASE_URL=sqlite:////tmp/elsewhere.db"
    command = ["kasparro", "etl", "--source", "csv", "--source", "csv2"]
    out = docker("exec", "--workdir", "/", "--env", database, container, *command)
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:-1]}
    assert rows["csv"][1:3] == ["success", "1496"]
    assert rows["csv2"][1:3] == ["success", "1274"]


def test_the_healthcheck_turns_healthy(container: str, pytestconfig: pytest.Config) -> None:
    # The first check runs one interval (30 s) after the start.
    wait_for("Docker reports the container healthy", lambda: health(container) == "healthy", 60)
    log = json.loads(inspect(container, "{{json .State.Health.Log}}"))
    assert log and all(entry["ExitCode"] == 0 for entry in log)
    started = datetime.fromisoformat(inspect(container, "{{.State.StartedAt}}"))
    first = (datetime.fromisoformat(log[0]["End"]) - started).total_seconds()
    summary = f"healthy {first:.1f} s after the start"
    report(pytestconfig, "container-health", summary, log, label="docker")


def test_sigterm_stops_it_within_the_grace(container: str, pytestconfig: pytest.Config) -> None:
    start = time.monotonic()
    docker("stop", "--time", "10", container, timeout=30)
    took = time.monotonic() - start
    state = json.loads(inspect(container, "{{json .State}}"))
    summary = f"docker stop took {took:.2f} s, exit {state['ExitCode']}"
    figures = {"seconds": took, "state": state}
    report(pytestconfig, "container-sigterm", summary, figures, label="docker")
    # 143: ended by SIGTERM after a clean shutdown; 137 would be Docker's SIGKILL.
    assert (state["ExitCode"], state["OOMKilled"]) == (143, False)
    assert took < GRACE_SECONDS
    assert "Application shutdown complete" in logs(container)
