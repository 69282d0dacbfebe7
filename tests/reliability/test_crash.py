"""Crash safety: `kasparro etl` killed with SIGKILL at many points of a large CSV load.

One clean reference run loads the file; then each trial starts `kasparro etl` on a fresh
database and SIGKILLs it at a seeded point (a few before the run even starts, most at random
rows of the load, following its progress lines, at a random moment inside a batch; a few
around its last commit), checks what the kill left behind, restarts the ETL and checks the
end state against the reference:

* after the kill: no duplicate keys; the rows stored are exactly the file's rows before the
  checkpoint's byte offset (nothing past it, nothing missing before it); the high-water mark
  is not ahead of the newest stored row; the killed run's counters match the rows stored;
* after the restart: the killed run is ``failed`` ("interrupted …"), nothing is left
  ``running``; the file resumed from the offset (only the rest read); the stored
  (source, record_id, timestamp, value) set equals the reference run's exactly; the
  checkpoint covers the whole file.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError

from kasparro.db.engine import create_db_engine
from kasparro.db.etl_reads import read_checkpoint
from kasparro.db.migrate import upgrade
from kasparro.db.tables import etl_runs, records
from kasparro.etl.csv_source import Fingerprint
from kasparro.etl.pipeline import ProgressEvent, run_etl
from tests.conftest import ON_POSTGRESQL, REPO, _truncate_all
from tests.etl.conftest import by_source, make_config, query
from tests.reliability.figures import report
from tests.support.waiting import wait_until

ROWS = 100_000
COINS = 400
SEED = 20261125
AT_START = (0.0, 0.3)
"""Kills this many seconds after the process starts, before its run begins."""
SPREAD = 15
"""Kills at seeded random rows of the load."""
NEAR_END = (0.0, 0.5, 2.0)
"""Kills after the last batch was read, this many batch intervals later (around its commit
and the end of the run)."""

Key = tuple[str, str, datetime, float]


@dataclass(frozen=True)
class Kill:
    """Where a trial kills: ``start`` ``wait`` seconds after spawning; otherwise once the
    process reports (on stderr) a batch reaching ``rows`` read, ``wait`` batch intervals
    (the time its last batch took) later, so kills land anywhere inside a transaction."""

    kind: str
    rows: int
    wait: float


@dataclass(frozen=True)
class BigFile:
    path: Path
    rows: list[Key]
    ends: list[int]
    """Byte offset after each row."""

    def before(self, offset: int) -> set[Key]:
        """The rows that end at or before ``offset``."""
        return {row for row, end in zip(self.rows, self.ends, strict=True) if end <= offset}


def big_file(path: Path) -> BigFile:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    rows: list[Key] = []
    ends: list[int] = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        header = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"
        handle.write(header)
        offset = len(header)
        for index in range(ROWS):
            day, coin = divmod(index, COINS)
            moment = start + timedelta(days=day)
            price = f"{(coin + 1) * 1.25 + day / 1000:.6f}"
            line = (
                f"K{coin:03d},Kill Coin {coin:03d},{price},{coin * 1000 + day},{day},"
                f"{moment:%Y-%m-%dT%H:%M:%SZ}\n"
            )
            handle.write(line)
            offset += len(line)
            rows.append(("csv", f"K{coin:03d}", moment, float(price)))
            ends.append(offset)
    return BigFile(path, rows, ends)


def stored(engine: Engine) -> list[Key]:
    with engine.connect() as conn:
        return stored_in(conn)


def stored_in(conn: Connection) -> list[Key]:
    table = records.c
    result = conn.execute(select(table.source, table.record_id, table.timestamp, table.value))
    return [(r.source, r.record_id, r.timestamp, r.value) for r in result]


def checkpoint(engine: Engine) -> tuple[datetime | None, Fingerprint | None]:
    with engine.connect() as conn:
        return checkpoint_in(conn)


def checkpoint_in(conn: Connection) -> tuple[datetime | None, Fingerprint | None]:
    high_water, fingerprint = read_checkpoint(conn, "csv")
    return high_water, Fingerprint.parse(fingerprint)


COMMITTING = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE 'COMMIT%'"
)


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """The state the kill left, read in one transaction. On PostgreSQL the killed client's
    last COMMIT may still be completing on the server after the kill: wait until no session
    of the database is committing, then read everything from one snapshot, so that no commit
    lands between two reads or before the restart (SQLite commits in the killed process
    itself: nothing is in flight after the kill). A session the kill left inside a COPY
    never commits: the server rolls it back once it notices the client is gone."""
    with engine.connect() as conn:
        if ON_POSTGRESQL:
            wait_until(
                lambda: not conn.execute(COMMITTING).scalar_one(),
                30,
                "the killed client's COMMIT to end",
            )
            conn.rollback()
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def spawn(url: str, path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ETL_SOURCES": "csv",
        "CSV_PATH": str(path),
        "ASSETS_PATH": str(REPO / "data" / "assets.csv"),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kasparro.cli", "etl"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def follow_to(process: subprocess.Popen[str], kill: Kill) -> float:
    """Read the process's progress lines until a batch reaches ``kill.rows`` read; return
    the time its last batch took (0 when it ended first)."""
    assert process.stderr is not None
    last = time.monotonic()
    for line in process.stderr:
        now = time.monotonic()
        if line.startswith("csv: ") and " read, " in line:
            interval, last = now - last, now
            if int(line.split()[1].replace(",", "")) >= kill.rows:
                return interval
    return 0.0


class Databases:
    """A fresh, empty database per trial: a new SQLite file, or the PostgreSQL one wiped."""

    def __init__(self, postgresql_url: str | None, folder: Path) -> None:
        self.postgresql_url, self.folder = postgresql_url, folder
        self.count = 0

    def fresh(self) -> str:
        self.count += 1
        if self.postgresql_url:
            _truncate_all(self.postgresql_url)
            return self.postgresql_url
        return f"sqlite:///{self.folder / f'trial{self.count}.db'}"


@pytest.fixture
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    url = request.getfixturevalue("postgresql_url") if ON_POSTGRESQL else None
    return Databases(url, tmp_path)


@pytest.mark.slow
def test_sigkill_at_many_points_loses_and_duplicates_nothing(
    databases: Databases, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = big_file(tmp_path / "big.csv")
    config = make_config(csv_path=data.path)

    url = databases.fresh()
    clock = time.monotonic()
    reference_process = spawn(url, data.path)
    assert reference_process.wait(timeout=300) == 0
    reference_wall = time.monotonic() - clock
    engine = create_db_engine(url)
    try:
        reference = stored(engine)
        with engine.connect() as conn:
            [ran] = conn.execute(select(etl_runs.c.started_at, etl_runs.c.finished_at)).all()
    finally:
        engine.dispose()
    assert len(reference) == ROWS
    assert set(reference) == set(data.rows)  # the clean run stored every row of the file
    load_seconds = (ran.finished_at - ran.started_at).total_seconds()

    rng = random.Random(SEED)
    plan = [Kill("start", 0, delay) for delay in AT_START]
    plan += [Kill("spread", rng.randrange(1, ROWS), rng.random()) for _ in range(SPREAD)]
    plan += [Kill("end", ROWS, fraction) for fraction in NEAR_END]
    trials = [_trial(databases.fresh(), data, set(reference), config, kill) for kill in plan]

    landed = [t["state"] for t in trials]
    mid = landed.count("mid-load")
    summary = (
        f"{len(trials)} SIGKILL trials over {ROWS} rows: {mid} mid-load, "
        f"{landed.count('before-run')} before the run, {landed.count('finished')} after it; "
        f"{len({t['rows_at_kill'] for t in trials})} distinct kill states; reference run "
        f"{reference_wall:.1f} s (load {load_seconds:.1f} s); restarts "
        f"{sum(t['restart_seconds'] for t in trials) / len(trials):.1f} s on average; "
        f"0 lost, 0 duplicated"
    )
    report(
        request.config,
        "crash-safety",
        summary,
        {
            "rows": ROWS,
            "reference_wall_seconds": round(reference_wall, 2),
            "reference_load_seconds": round(load_seconds, 2),
            "trials": trials,
        },
    )
    assert len(trials) >= 20
    assert mid >= 12, landed  # most kills landed while rows were being written


def _trial(url: str, data: BigFile, reference: set[Key], config: Any, kill: Kill) -> dict[str, Any]:
    engine = create_db_engine(url)
    try:
        process = spawn(url, data.path)
        try:
            interval = 1.0 if kill.kind == "start" else follow_to(process, kill)
            delay = kill.wait * interval
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
        finally:
            code = process.wait(timeout=60)
            assert process.stderr is not None
            process.stderr.close()
        outcome = _after_kill(engine, data)
        clock = time.monotonic()
        upgrade(engine)  # as `kasparro etl` does first: the kill may precede or cut migrating
        summary = run_etl(engine, config, sources=["csv"])
        restart = time.monotonic() - clock
        _after_restart(engine, data, reference, summary, outcome)
    finally:
        engine.dispose()
    return {
        "kind": kill.kind,
        "target_rows": kill.rows,
        "delay_seconds": round(delay, 3),
        "killed_by_signal": code == -signal.SIGKILL,
        "restart_seconds": round(restart, 2),
        **outcome,
    }


def _after_kill(engine: Engine, data: BigFile) -> dict[str, Any]:
    with snapshot(engine) as conn:
        try:
            runs = list(conn.execute(text("SELECT id, status FROM etl_runs")))
        except DBAPIError:  # killed before it created the tables
            return {"state": "before-run", "rows_at_kill": 0, "offset": None, "run": None}
        rows = stored_in(conn)
        duplicates = list(
            conn.execute(
                text(
                    "SELECT source, record_id, timestamp FROM records "
                    "GROUP BY source, record_id, timestamp HAVING count(*) > 1"
                )
            )
        )
        high_water, fingerprint = checkpoint_in(conn)
        counted = [
            row.inserted
            for row in conn.execute(
                text("SELECT inserted FROM etl_run_sources WHERE run_id = :r"),
                {"r": runs[0].id if runs else None},
            )
        ]
    assert len(rows) == len(set(rows))
    assert duplicates == []
    offset = fingerprint.offset if fingerprint else 0
    assert set(rows) == data.before(offset)  # exactly the rows before the committed offset
    if high_water is not None:
        assert rows and high_water <= max(row[2] for row in rows)
    if not runs:
        assert rows == []
        return {"state": "before-run", "rows_at_kill": 0, "offset": offset, "run": None}
    [run] = runs
    assert run.status in ("running", "success"), run.status
    assert sum(counted) == len(rows)  # counters commit with the rows
    state = "finished" if run.status == "success" else "mid-load"
    return {"state": state, "rows_at_kill": len(rows), "offset": offset, "run": run.id}


def _after_restart(
    engine: Engine, data: BigFile, reference: set[Key], summary: Any, outcome: dict[str, Any]
) -> None:
    csv = by_source(summary)["csv"]
    assert summary.status == "success", csv.error
    loaded = outcome["rows_at_kill"]
    if outcome["state"] == "finished":
        assert (csv.rows_read, csv.inserted) == (0, 0)  # unchanged file: not read again
    else:
        resumed_from = len(data.before(outcome["offset"] or 0))
        assert csv.rows_read == ROWS - resumed_from  # resumed at the offset, not re-read
        assert csv.inserted == ROWS - loaded
    final = stored(engine)
    assert len(final) == ROWS and set(final) == reference  # nothing lost, nothing extra
    assert query(engine, "SELECT id FROM etl_runs WHERE status = 'running'") == []
    if outcome["state"] == "mid-load":
        [killed] = query(
            engine, "SELECT status, error FROM etl_runs WHERE id = :i", i=outcome["run"]
        )
        assert killed.status == "failed" and killed.error.startswith("interrupted"), killed
        sources = query(
            engine, "SELECT status FROM etl_run_sources WHERE run_id = :i", i=outcome["run"]
        )
        statuses = {s.status for s in sources}  # none when killed before the source began
        if outcome["rows_at_kill"] < ROWS:
            assert statuses <= {"failed"}, statuses
        else:  # all rows committed: the source may have finished before the run did
            assert statuses <= {"success", "failed"}, statuses
    high_water, fingerprint = checkpoint(engine)
    assert high_water == max(row[2] for row in data.rows)
    assert fingerprint is not None and fingerprint.offset == data.ends[-1]
    [inserted] = query(engine, "SELECT sum(inserted) AS n FROM etl_run_sources")
    assert inserted.n == ROWS


def test_a_file_ending_on_a_full_batch_commits_its_rows_with_the_final_checkpoint(
    engine: Engine, tmp_path: Path
) -> None:
    """The last rows and the high-water mark are one commit, even when the file ends exactly
    on a batch boundary. (They were two: a run stopped or killed between them left the file
    looking fully processed, so no later run ever set its high-water mark.)"""
    path = tmp_path / "even.csv"
    lines = [
        f"E{i % 4},Even {i % 4},{i + 1},1,1,2021-01-{1 + i // 4:02d}T00:00:00Z" for i in range(20)
    ]
    path.write_text(
        "symbol,name,price_usd,market_cap,volume_24h,timestamp\n" + "\n".join(lines) + "\n"
    )
    config = make_config(csv_path=path, batch_size=10)
    stop = threading.Event()

    def stop_after_every_row(event: ProgressEvent) -> None:
        if event.kind == "batch" and event.counters.rows_read == 20:
            stop.set()  # as a kill or a shutdown right after the last batch would

    first = run_etl(engine, config, sources=["csv"], progress=stop_after_every_row, stop=stop)
    assert by_source(first)["csv"].status == "success"
    second = by_source(run_etl(engine, config, sources=["csv"]))["csv"]
    assert (second.status, second.rows_read) == ("success", 0)
    high_water, fingerprint = checkpoint(engine)
    assert high_water == datetime(2021, 1, 5, tzinfo=UTC)
    assert fingerprint is not None and fingerprint.offset == path.stat().st_size
