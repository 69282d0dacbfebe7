"""A `kasparro etl` process killed mid-load: the next run reconciles it and resumes the file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kasparro.etl.lock import ADVISORY_KEY
from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import by_source, make_config, query
from tests.support.waiting import wait_until

ROWS = 120_000


def big_csv(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("symbol,name,price_usd,market_cap,volume_24h,timestamp\n")
        for day in range(ROWS // 400):
            stamp = f"2020-{1 + day // 28:02d}-{1 + day % 28:02d}T00:00:00Z"
            handle.writelines(f"C{c},Coin {c},{c + day / 7},1,2,{stamp}\n" for c in range(400))
    return path


def kill_mid_load(database_url: str, engine: Engine, path: Path) -> None:
    """Run `kasparro etl` on the csv file ``path``; SIGKILL it once it has committed a batch."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ETL_SOURCES": "csv",
        "CSV_PATH": str(path),
        "ASSETS_PATH": str(make_config().assets_path),
        "ETL_BATCH_SIZE": "2000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kasparro.cli", "etl"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def checkpointed() -> bool:
            assert process.poll() is None, "the run ended before it could be killed"
            return bool(query(engine, "SELECT fingerprint FROM checkpoints WHERE source = 'csv'"))

        wait_until(checkpointed, 60, "the csv checkpoint", interval=0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    # PostgreSQL ends the killed process's sessions (and frees its advisory ETL lock) only
    # once it notices the connection is gone: a run started before then is skipped.
    if engine.dialect.name == "postgresql":
        wait_until(
            lambda: (
                not query(
                    engine,
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = :k",
                    k=ADVISORY_KEY,
                )
            ),
            10,
            "the killed run's ETL lock to be released",
        )


@pytest.mark.slow
def test_a_killed_run_is_reconciled_and_its_file_resumed(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    path = big_csv(tmp_path / "big.csv")
    kill_mid_load(database_url, engine, path)
    [killed] = query(engine, "SELECT id, status FROM etl_runs")
    assert killed.status == "running"
    [loaded] = query(engine, "SELECT count(*) AS n FROM records")
    assert 0 < loaded.n < ROWS

    summary = run_etl(engine, make_config(csv_path=path), sources=["csv"])
    csv = by_source(summary)["csv"]
    assert (summary.status, csv.skipped, csv.rejected) == ("success", 0, 0)
    assert csv.rows_read + loaded.n == ROWS  # only what the killed run had not committed
    assert csv.inserted == csv.rows_read
    [again] = query(engine, "SELECT status, error FROM etl_runs WHERE id = :i", i=killed.id)
    assert again.status == "failed"
    assert again.error.startswith("interrupted")
    [total] = query(engine, "SELECT count(*) AS n FROM records")
    assert total.n == ROWS
