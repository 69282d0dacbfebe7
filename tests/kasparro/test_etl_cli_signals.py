"""`kasparro etl` stopped by SIGTERM / SIGINT (issue 13, item 8, for the standalone CLI):
the run stops at a batch boundary, is recorded ``failed`` / ``stopped`` with counters that
are exactly what committed, and the process exits 143 / 130. A real subprocess loads a
200,000-row CSV on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import REPO
from tests.etl.conftest import query
from tests.ops.serving import synthetic_csv

ROWS = 200_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_csv(tmp_path_factory.mktemp("signals") / "prices.csv", ROWS)


def start_etl(database_url: str, csv: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CSV_PATH": str(csv),
        "ASSETS_PATH": str(REPO / "data" / "assets.csv"),
        "ETL_BATCH_SIZE": "2000",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kasparro.cli", "etl", "--source", "csv"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_batches(process: subprocess.Popen[str], rows: int) -> list[str]:
    """stderr lines until a progress line shows at least ``rows`` read."""
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        assert line, f"the ETL ended before {rows} rows: {''.join(seen)}"
        seen.append(line)
        progress = line.startswith("csv: ") and " read," in line
        if progress and int(line.split()[1].replace(",", "")) >= rows:
            return seen
    raise AssertionError("no progress within 90 s")


@pytest.mark.parametrize(
    ("signum", "times", "status"),
    [(signal.SIGTERM, 1, 143), (signal.SIGINT, 1, 130), (signal.SIGTERM, 2, 143)],
    ids=["sigterm", "sigint", "sigterm-twice"],
)
@pytest.mark.slow
def test_a_signal_stops_the_run_and_records_what_committed(
    database_url: str, engine: Engine, big_csv: Path, signum: int, times: int, status: int
) -> None:
    process = start_etl(database_url, big_csv)
    try:
        wait_for_batches(process, 10_000)
        for _ in range(times):
            process.send_signal(signum)
            time.sleep(0.05)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == status, err
    name = signal.Signals(signum).name
    assert f"kasparro etl: {name}: stopping at the next batch boundary" in err
    assert out.splitlines()[-1].startswith("run 1: failed in ")
    assert out.splitlines()[-1].endswith("(stopped)")
    assert "Traceback" not in err

    runs = query(engine, "SELECT status, error, finished_at FROM etl_runs")
    assert [(r.status, r.error) for r in runs] == [("failed", "stopped")]
    assert runs[0].finished_at is not None
    (source,) = query(engine, "SELECT * FROM etl_run_sources")
    assert (source.source, source.status) == ("csv", "failed")
    assert source.error.startswith("stopped: the run was asked to stop")
    stored = query(engine, "SELECT count(*) AS n FROM records")[0].n
    assert 10_000 <= stored < ROWS
    assert source.rows_read == source.inserted == stored
    assert (source.rejected, source.updated, source.unchanged) == (0, 0, 0)

    # The next run reads on from the checkpoint and loads exactly the rest.
    rest = start_etl(database_url, big_csv)
    out, err = rest.communicate(timeout=120)
    assert rest.returncode == 0, err
    assert query(engine, "SELECT count(*) AS n FROM records")[0].n == ROWS
    second = query(engine, "SELECT rows_read, inserted FROM etl_run_sources WHERE run_id = 2")
    assert [tuple(row) for row in second] == [(ROWS - stored, ROWS - stored)]
