"""Database loss: a real `kasparro serve` on a private PostgreSQL server (tests.support.pgcluster)
loses its database while clients keep asking, three times over. /health turns 503 with
``db: error`` at once, every request fails cleanly and fast (REST 503 JSON with the request
id, GraphQL errors with code SERVICE_UNAVAILABLE), and when the database returns the same
process serves the same rows again.

PostgreSQL only: SQLite is a file inside the serving process, so there is no server to
lose; the tests run as root, whom permissions do not stop, and an unlinked database file
stays readable through the open descriptors. The test uses its own server, so it runs once,
in the PostgreSQL pass of the suite.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kasparro.db.engine import create_db_engine
from kasparro.db.migrate import upgrade
from tests.conftest import ON_POSTGRESQL
from tests.gql.store import load_store
from tests.ops.serving import Served, kasparro_serve
from tests.reliability.figures import report
from tests.support.pgcluster import PrivateCluster, private_cluster

pytestmark = pytest.mark.skipif(
    not ON_POSTGRESQL, reason="PostgreSQL only (see the module docstring); runs in that pass"
)

CYCLES = 3
BOUND_SECONDS = 6.0  # connect_timeout (5 s) and a margin: no request may take longer
RECORDS = "{ records(first: 100) { nodes { source recordId timestamp value } } }"
UNAVAILABLE = "database unavailable; try again later"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as cluster:
        engine = create_db_engine(cluster.url)
        try:
            upgrade(engine)
            load_store(engine)
        finally:
            engine.dispose()
        yield cluster


class Traffic(threading.Thread):
    """Clients asking all along: /data and GraphQL records in a loop, every answer judged."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.stop = threading.Event()
        self.outcomes: Counter[str] = Counter()
        self.slowest = 0.0
        self.bad: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=BOUND_SECONDS * 2) as client:
            sends: list[tuple[str, Callable[[], httpx.Response]]] = [
                ("rest", lambda: client.get("/data", params={"limit": 100})),
                ("graphql", lambda: client.post("/graphql", json={"query": RECORDS})),
            ]
            while not self.stop.is_set():
                for name, send in sends:
                    started = time.monotonic()
                    try:
                        response = send()
                    except httpx.HTTPError as exc:
                        self.bad.append(f"{name}: {exc!r}")
                        continue
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    outcome = judge(name, response)
                    self.outcomes[f"{name} {outcome}"] += 1
                    if outcome == "bad":
                        self.bad.append(f"{name}: {response.status_code} {response.text[:300]}")
                time.sleep(0.01)


def judge(name: str, response: httpx.Response) -> str:
    """``ok``, ``unavailable`` (a clean refusal) or ``bad``."""
    body: Any = response.json()
    if name == "rest":
        if response.status_code == 200 and len(body["data"]) == 48:
            return "ok"
        clean = body == {"error": UNAVAILABLE, "request_id": response.headers["x-request-id"]}
        return "unavailable" if response.status_code == 503 and clean else "bad"
    if response.status_code != 200:
        return "bad"
    if not body.get("errors"):
        return "ok" if len(body["data"]["records"]["nodes"]) == 48 else "bad"
    codes = {error["extensions"]["code"] for error in body["errors"]}
    messages = {error["message"] for error in body["errors"]}
    return "unavailable" if (codes, messages) == ({"SERVICE_UNAVAILABLE"}, {UNAVAILABLE}) else "bad"


def wait_for_health(client: httpx.Client, status: int, timeout: float = 30.0) -> float:
    """Poll /health until it answers ``status``; return the seconds it took."""
    started = time.monotonic()
    while True:
        response = client.get("/health")
        if response.status_code == status:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, response.text
        time.sleep(0.02)


def outage_answers(client: httpx.Client) -> float:
    """Every endpoint fails cleanly while the database is down; return the slowest."""
    slowest = 0.0
    for _ in range(5):
        started = time.monotonic()
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["db"] == "error"
        assert health.json()["detail"] == "database unreachable"
        for path in ("/data", "/stats"):
            response = client.get(path, headers={"X-Request-ID": "outage-1"})
            assert response.status_code == 503, response.text
            assert response.json() == {"error": UNAVAILABLE, "request_id": "outage-1"}
        for query in (RECORDS, "{ stats { recordsTotal } }", "{ latestPrices { value } }"):
            body = client.post("/graphql", json={"query": query}).json()
            assert body["data"] is None
            [error] = body["errors"]
            assert error["message"] == UNAVAILABLE
            assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryAfter": 5}
        body = client.post("/graphql", json={"query": "{ health { db } }"}).json()
        assert body == {"data": {"health": {"db": "error"}}}
        slowest = max(slowest, time.monotonic() - started)
    metrics = client.get("/metrics").text.splitlines()
    assert "kasparro_db_up 0.0" in metrics
    return slowest


@pytest.mark.slow
def test_postgresql_lost_and_back_while_serving(
    cluster: PrivateCluster, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    cycles: list[dict[str, float]] = []
    with (
        kasparro_serve(cluster.url, tmp_path, "db-loss") as served,
        httpx.Client(base_url=served.base_url, timeout=BOUND_SECONDS * 2) as client,
    ):
        rows = client.get("/data", params={"limit": 100}).json()["data"]
        nodes = client.post("/graphql", json={"query": RECORDS}).json()["data"]["records"]
        assert len(rows) == len(nodes["nodes"]) == 48
        traffic = Traffic(served.base_url)
        traffic.start()
        try:
            for _ in range(CYCLES):
                time.sleep(0.3)  # traffic served meanwhile
                started = time.monotonic()
                cluster.stop()
                stopped = time.monotonic() - started
                to_503 = wait_for_health(client, 503)
                slowest = outage_answers(client)
                started = time.monotonic()
                cluster.start()
                started_db = time.monotonic() - started
                to_200 = wait_for_health(client, 200)
                assert client.get("/data", params={"limit": 100}).json()["data"] == rows
                again = client.post("/graphql", json={"query": RECORDS}).json()["data"]
                assert again["records"] == nodes
                assert "kasparro_db_up 1.0" in client.get("/metrics").text.splitlines()
                cycles.append(
                    {
                        "pg_ctl_stop_seconds": round(stopped, 3),
                        "health_503_after_stop_seconds": round(to_503, 3),
                        "slowest_outage_round_seconds": round(slowest, 3),
                        "pg_ctl_start_seconds": round(started_db, 3),
                        "health_200_after_start_seconds": round(to_200, 3),
                    }
                )
            time.sleep(0.3)
        finally:
            traffic.stop.set()
            traffic.join(timeout=30)
        assert served.process.poll() is None  # the same process all along
    check_log(served)
    figures = {
        "cycles": cycles,
        "traffic": dict(traffic.outcomes),
        "traffic_slowest_seconds": round(traffic.slowest, 3),
    }
    worst_503 = max(cycle["health_503_after_stop_seconds"] for cycle in cycles)
    worst_200 = max(cycle["health_200_after_start_seconds"] for cycle in cycles)
    report(
        pytestconfig,
        "db-loss",
        f"{CYCLES} outages: /health 503 within {worst_503:.3f}s of the stop, 200 within "
        f"{worst_200:.3f}s of the start; {sum(traffic.outcomes.values())} requests in "
        f"the meantime, slowest {traffic.slowest:.3f}s, none unclean",
        figures,
    )
    assert traffic.bad == [], traffic.bad[:5]
    for name in ("rest", "graphql"):
        assert traffic.outcomes[f"{name} ok"] > 0 and traffic.outcomes[f"{name} unavailable"] > 0
    assert traffic.slowest < BOUND_SECONDS
    assert worst_503 < 2.0 and worst_200 < 5.0, figures


def check_log(served: Served) -> None:
    """Outages are warnings, never errors with a traceback (those would mean a bug)."""
    levels = Counter(line["level"] for line in served.log_lines())
    assert levels["error"] == 0 and levels["critical"] == 0, served.log()[-5000:]
    assert "Traceback" not in served.log()
