"""A real read replica: a PostgreSQL streaming standby behind DATABASE_READ_URL.

A private primary (tests/support/pgcluster.py) and a hot standby made from it with
``pg_basebackup -R``, on two free loopback ports. Two `kasparro serve` processes: one with
``DATABASE_READ_URL`` at the standby, one on the primary alone. The ETL loads the real
``data.csv`` in two parts (its first 1,000 rows, then the remaining 496) to make new rows
without inventing any. Checked against SCALING.md, section 2: the reads go to the standby;
while its replay is paused, ``runEtl`` answers complete from the primary, ``/data``,
``/stats`` and ``latestPrices`` show the standby's consistent past and catch up once it
replays; cursors continue across the lagging standby and the primary; losing the standby
makes ``/health`` a 503 naming ``read_db`` while writes go on, and it recovers by itself.

Runs with TEST_DATABASE_URL on PostgreSQL (it needs the server binaries, not that database).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from kasparro.db.engine import create_db_engine
from kasparro.gql.engines import READ_APPLICATION_NAME
from tests.conftest import ON_POSTGRESQL, REPO
from tests.ops.serving import Served, kasparro_serve
from tests.reliability.figures import report
from tests.support.pgcluster import PrivateCluster, private_cluster, streaming_standby
from tests.support.waiting import seconds_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ON_POSTGRESQL, reason="a streaming standby needs PostgreSQL"),
]

TOKEN = "streaming-replica-test-token"
FIRST_ROWS = 1000
CSV_ROWS, CSV2_ROWS = 1496, 1274
NEW_ROWS = CSV_ROWS - FIRST_ROWS


@dataclass
class Replicated:
    primary: PrivateCluster
    standby: PrivateCluster
    primary_db: Engine
    standby_db: Engine
    reading: Served  # DATABASE_READ_URL = the standby
    plain: Served  # the primary only
    csv: Path
    figures: dict[str, float] = field(default_factory=dict)

    def replayed(self, timeout: float = 30.0) -> float:
        """Wait until the standby has replayed all the primary has written; the seconds."""
        with self.primary_db.connect() as conn:
            target = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()
        query = text("SELECT pg_last_wal_replay_lsn() >= CAST(:target AS pg_lsn)")

        def caught_up() -> bool:
            with self.standby_db.connect() as conn:
                return bool(conn.execute(query, {"target": target}).scalar_one())

        return seconds_until(caught_up, timeout, "the standby to catch up", interval=0.01)

    def wal_behind(self) -> int:
        """Bytes of WAL the standby has received but not replayed, as the primary sees it."""
        query = "SELECT pg_wal_lsn_diff(sent_lsn, replay_lsn) FROM pg_stat_replication"
        with self.primary_db.connect() as conn:
            return int(conn.execute(text(query)).scalar_one())

    def replay(self, paused: bool) -> None:
        call = "pg_wal_replay_pause()" if paused else "pg_wal_replay_resume()"
        with self.standby_db.connect() as conn:
            conn.execute(text(f"SELECT {call}"))


def client(served: Served) -> httpx.Client:
    return httpx.Client(base_url=served.base_url, timeout=30)


def run_etl(served: Served, *sources: str) -> dict[str, Any]:
    with client(served) as http:
        answer = http.post(
            "/etl/run",
            json={"sources": list(sources)},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()
    return run


def get(served: Served, path: str, **params: str) -> httpx.Response:
    with client(served) as http:
        return http.get(path, params=params)


def walk(pages: Callable[[int], Served], order: str, limit: int = 400) -> list[tuple[str, ...]]:
    """Every /data row's key, page ``n`` read from ``pages(n)``."""
    keys: list[tuple[str, ...]] = []
    cursor: str | None = None
    number = 0
    while True:
        params = {"order": order, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = get(pages(number), "/data", **params)
        assert page.status_code == 200, page.text
        keys += [(r["timestamp"], r["source"], r["record_id"]) for r in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        number += 1
        if cursor is None:
            return keys


def latest_btc(served: Served) -> str:
    query = '{ latestPrices(symbol: ["btc"]) { source timestamp } }'
    with client(served) as http:
        prices = http.post("/graphql", json={"query": query}).json()["data"]["latestPrices"]
    (csv,) = [price["timestamp"] for price in prices if price["source"] == "csv"]
    return str(csv)


@pytest.fixture(scope="module")
def replicated(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Replicated]:
    workdir = tmp_path_factory.mktemp("replica")
    lines = (REPO / "data" / "data.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    csv = workdir / "data.csv"
    csv.write_text("".join(lines[: FIRST_ROWS + 1]), encoding="utf-8")
    with private_cluster() as primary, streaming_standby(primary) as standby:
        env = {"ADMIN_TOKEN": TOKEN, "CSV_PATH": str(csv)}
        primary_db, standby_db = create_db_engine(primary.url), create_db_engine(standby.url)
        try:
            with (
                kasparro_serve(
                    primary.url, workdir, "reading", DATABASE_READ_URL=standby.url, **env
                ) as reading,
                kasparro_serve(primary.url, workdir, "plain", **env) as plain,
            ):
                replicated = Replicated(
                    primary, standby, primary_db, standby_db, reading, plain, csv
                )
                yield replicated
                figures = {key: round(value, 4) for key, value in replicated.figures.items()}
                summary = ", ".join(f"{key} {value:g}" for key, value in figures.items())
                report(pytestconfig, "streaming-replica", summary, figures)
        finally:
            primary_db.dispose()
            standby_db.dispose()


def test_reads_follow_the_standby(replicated: Replicated) -> None:
    run = run_etl(replicated.reading, "csv", "csv2")
    assert run["status"] == "success"
    assert sum(source["inserted"] for source in run["sources"]) == FIRST_ROWS + CSV2_ROWS
    replicated.figures["load_replayed_s"] = replicated.replayed()
    with replicated.standby_db.connect() as conn:
        assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
    with replicated.primary_db.connect() as conn:
        states = conn.execute(text("SELECT state FROM pg_stat_replication")).scalars().all()
    assert states == ["streaming"]
    assert walk(lambda _: replicated.reading, "desc") == walk(lambda _: replicated.plain, "desc")
    assert get(replicated.reading, "/stats").json()["records_total"] == FIRST_ROWS + CSV2_ROWS
    sessions = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
    for engine, expected in ((replicated.standby_db, True), (replicated.primary_db, False)):
        with engine.connect() as conn:
            found = conn.execute(sessions, {"name": READ_APPLICATION_NAME}).scalar_one()
        assert (found > 0) is expected
    health = get(replicated.reading, "/health").json()
    assert (health["db"], health["read_db"]) == ("ok", "ok")


def test_a_lagging_standby_serves_its_past_and_catches_up(replicated: Replicated) -> None:
    before = FIRST_ROWS + CSV2_ROWS
    old_latest = latest_btc(replicated.reading)
    old_keys = walk(lambda _: replicated.plain, "asc")
    replicated.replay(paused=True)
    try:
        rest = (REPO / "data" / "data.csv").read_text(encoding="utf-8").splitlines(True)
        with replicated.csv.open("a", encoding="utf-8") as handle:
            handle.writelines(rest[FIRST_ROWS + 1 :])
        # runEtl answers from the primary: complete at once.
        run = run_etl(replicated.reading, "csv")
        (csv,) = run["sources"]
        assert (run["status"], csv["inserted"]) == ("success", NEW_ROWS)
        time.sleep(0.5)  # for the standby to receive the run's WAL (it cannot replay it)
        replicated.figures["paused_wal_behind_bytes"] = replicated.wal_behind()
        # The queries show the standby's past, consistently: totals, rows, the kept prices.
        assert get(replicated.reading, "/stats").json()["records_total"] == before
        assert get(replicated.plain, "/stats").json()["records_total"] == before + NEW_ROWS
        assert latest_btc(replicated.reading) == old_latest < latest_btc(replicated.plain)
        # A cursor from the lagging standby continues on the primary. Oldest first, the
        # new rows come after it: every row once. Newest first, they lie behind the
        # cursor: the walk holds exactly what the standby had.
        both = walk(lambda n: replicated.reading if n == 0 else replicated.plain, "asc")
        assert both == walk(lambda _: replicated.plain, "asc")
        assert len(both) == before + NEW_ROWS and len(set(both)) == len(both)
        behind = walk(lambda n: replicated.reading if n == 0 else replicated.plain, "desc")
        assert behind == old_keys[::-1]
    finally:
        replicated.replay(paused=False)
    replicated.figures["resumed_replayed_s"] = replicated.replayed()
    replicated.figures["resumed_in_stats_s"] = seconds_until(
        lambda: get(replicated.reading, "/stats").json()["records_total"] == before + NEW_ROWS,
        30,
        "the standby's rows to reach /stats",
    )
    assert latest_btc(replicated.reading) == latest_btc(replicated.plain) > old_latest


def test_cursors_alternate_between_standby_and_primary(replicated: Replicated) -> None:
    replicated.replayed()
    servers = (replicated.reading, replicated.plain)
    for order in ("asc", "desc"):
        alternating = walk(lambda n: servers[n % 2], order, limit=300)
        assert alternating == walk(lambda _: replicated.plain, order, limit=300)


def test_losing_the_standby_is_reported_and_survived(replicated: Replicated) -> None:
    replicated.standby.stop()
    stopped = time.monotonic()
    try:
        health = get(replicated.reading, "/health")
        replicated.figures["loss_health_503_s"] = time.monotonic() - stopped
        assert health.status_code == 503
        assert (health.json()["db"], health.json()["read_db"]) == ("ok", "error")
        data = get(replicated.reading, "/data", limit="1")
        assert data.status_code == 503 and "error" in data.json()
        # Writes go to the primary, which does not wait for an asynchronous standby.
        assert run_etl(replicated.reading, "csv2")["status"] == "success"
        assert get(replicated.plain, "/health").status_code == 200
    finally:
        replicated.standby.start()
    replicated.figures["restart_health_200_s"] = seconds_until(
        lambda: get(replicated.reading, "/health").status_code == 200, 30, "/health to recover"
    )
    replicated.figures["restart_replayed_s"] = replicated.replayed()
    assert get(replicated.reading, "/data", limit="1").status_code == 200
