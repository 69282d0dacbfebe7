"""Concurrent replicas: three `kasparro serve` processes started at the same moment on one
empty database, each with ETL_ON_STARTUP=true, the shipped CSVs and the fake upstream.

They migrate at once (serialised by the migration lock), then exactly one startup ETL run
loads while the other two record a ``skipped`` run (the ETL lock: a PostgreSQL advisory lock,
or on SQLite, where every replica is on one host, a ``flock``). The upstream sees one fetch
per API. When the run has ended, all three serve the same data: the same ``/stats`` totals,
the same rows on every ``/data`` page, the same GraphQL ``totalCount``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import Engine, text

from kasparro.db.engine import create_db_engine
from kasparro.db.migrate import head_revision, upgrade
from tests.conftest import ON_POSTGRESQL, REPO
from tests.etl.conftest import query
from tests.reliability.figures import report
from tests.support.servers import free_port
from tests.support.upstream import (
    MARKETS,
    PAPRIKA,
    TICKERS,
    FakeUpstream,
    fake_upstream,
    recorded,
    slow,
)
from tests.support.waiting import wait_until

REPLICAS = 3
HOLD = 4.0
"""Seconds the first CoinPaprika fetch takes, so the loading run surely overlaps the others."""
MIGRATION_ROUNDS = 5
FULL = {"coinpaprika": 2500, "coingecko": 120, "csv": 1496, "csv2": 1274}


class EmptyDatabases:
    """Empty, unmigrated databases: new SQLite files, or the PostgreSQL one emptied."""

    def __init__(self, postgresql_url: str | None, folder: Path) -> None:
        self.postgresql_url, self.folder, self.count = postgresql_url, folder, 0

    def fresh(self) -> str:
        self.count += 1
        if self.postgresql_url is None:
            return f"sqlite:///{self.folder / f'replicas{self.count}.db'}"
        engine = create_db_engine(self.postgresql_url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
        return self.postgresql_url


@pytest.fixture
def empty_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmptyDatabases]:
    url: str | None = request.getfixturevalue("postgresql_url") if ON_POSTGRESQL else None
    yield EmptyDatabases(url, tmp_path)
    if url is not None:  # leave the session's test database migrated for the next tests
        engine = create_db_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()


def test_migrating_a_new_database_from_several_connections_at_once(
    empty_databases: EmptyDatabases,
) -> None:
    """Replicas starting together all migrate at the same instant (a barrier lines them up).
    On SQLite this failed every round with "table … already exists" before the file lock."""
    for _ in range(MIGRATION_ROUNDS):
        revisions, errors = _migrate_at_once(empty_databases.fresh())
        assert errors == []
        assert revisions == [head_revision()] * REPLICAS


def _migrate_at_once(url: str) -> tuple[list[str | None], list[BaseException]]:
    barrier = threading.Barrier(REPLICAS)
    revisions: list[str | None] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        engine = create_db_engine(url)
        try:
            barrier.wait()
            revisions.append(upgrade(engine))
        except BaseException as exc:  # noqa: BLE001 - the test asserts there is none
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=migrate) for _ in range(REPLICAS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return revisions, errors


class Replica:
    def __init__(self, env: dict[str, str], folder: Path, index: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"replica{index}.log"
        self._log: IO[str] = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kasparro.cli", "serve", "--port", str(self.port)],
            cwd=folder,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()


def _pages(client: httpx.Client) -> list[dict[str, Any]]:
    """Every row of /data, walked page by page with the cursor."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = client.get("/data", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        rows.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


def _settled(engine: Engine) -> bool:
    """True once all three startup runs are recorded and none is still running."""
    try:
        statuses = [r.status for r in query(engine, "SELECT status FROM etl_runs")]
    except Exception:  # noqa: BLE001 - the tables may not exist yet
        return False
    return len(statuses) >= REPLICAS and "running" not in statuses


@pytest.mark.slow
def test_three_replicas_started_together_run_the_etl_once_and_serve_the_same_data(
    empty_databases: EmptyDatabases, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with fake_upstream() as upstream:
        _replicas(empty_databases.fresh(), tmp_path, upstream, request.config)


def _replicas(url: str, folder: Path, upstream: FakeUpstream, config: pytest.Config) -> None:
    upstream.script(TICKERS, slow(HOLD, recorded(PAPRIKA)))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CSV_PATH": str(REPO / "data" / "data.csv"),
        "CSV2_PATH": str(REPO / "data" / "data2.csv"),
        "ASSETS_PATH": str(REPO / "data" / "assets.csv"),
        "COINPAPRIKA_BASE_URL": upstream.coinpaprika_url,
        "COINGECKO_BASE_URL": upstream.coingecko_url,
        "HTTP_TIMEOUT_SECONDS": str(HOLD + 5),
        "HTTP_MAX_RETRIES": "0",
        "ETL_ON_STARTUP": "true",
        "ETL_INTERVAL_SECONDS": "0",
        "LOG_FORMAT": "json",
    }
    clock = time.monotonic()
    replicas = [Replica(env, folder, index) for index in range(REPLICAS)]
    engine = create_db_engine(url)
    try:

        def all_settled() -> bool:
            for replica in replicas:
                assert replica.process.poll() is None, replica.log()
            return _settled(engine)

        wait_until(all_settled, 90, lambda: "\n".join(r.log() for r in replicas), interval=0.1)
        settled = time.monotonic() - clock

        runs = query(engine, "SELECT id, status, error, pid FROM etl_runs ORDER BY id")
        loading = [r for r in runs if r.status != "skipped"]
        skipped = [r for r in runs if r.status == "skipped"]
        assert len(runs) == REPLICAS, runs
        assert [r.status for r in loading] == ["success"], runs
        assert len(skipped) == REPLICAS - 1
        assert {r.error for r in skipped} == {"another ETL run holds the lock"}
        pids = {r.process.pid for r in replicas}
        assert {r.pid for r in runs} == pids  # one run recorded by each replica
        [run] = loading
        sources = query(
            engine,
            "SELECT source, status, inserted FROM etl_run_sources WHERE run_id = :r",
            r=run.id,
        )
        assert {s.source: (s.status, s.inserted) for s in sources} == {
            name: ("success", rows) for name, rows in FULL.items()
        }
        assert (
            query(engine, "SELECT run_id FROM etl_run_sources WHERE run_id <> :r", r=run.id) == []
        )
        assert len(upstream.hits(TICKERS)) == 1 and len(upstream.hits(MARKETS)) == 1

        served: list[tuple[int, list[dict[str, Any]], int]] = []
        for replica in replicas:
            with httpx.Client(base_url=replica.base, timeout=30) as client:
                health = client.get("/health").json()
                assert (health["db"], health["etl_last_run"]) == ("ok", "success")
                stats = client.get("/stats").json()
                rows = _pages(client)
                graphql = client.post(
                    "/graphql", json={"query": "{ records(first: 1) { totalCount } }"}
                ).json()
                served.append(
                    (stats["records_total"], rows, graphql["data"]["records"]["totalCount"])
                )
        total = sum(FULL.values())
        for records_total, rows, count in served:
            assert (records_total, len(rows), count) == (total, total, total)
            assert rows == served[0][1]  # the same rows, in the same order, on every replica
    finally:
        engine.dispose()
        codes = [replica.stop() for replica in replicas]
    assert codes == [0] * REPLICAS, [r.log() for r in replicas]
    report(
        config,
        "replicas",
        f"{REPLICAS} replicas started together: 1 run loaded {sum(FULL.values())} rows, "
        f"{REPLICAS - 1} skipped; all served {sum(FULL.values())} identical rows; "
        f"settled {settled:.1f} s after start (first fetch held {HOLD:g} s)",
        {
            "replicas": REPLICAS,
            "runs": [dict(r._mapping) for r in runs],
            "settled_seconds": round(settled, 2),
            "rows_served": sum(FULL.values()),
        },
    )
