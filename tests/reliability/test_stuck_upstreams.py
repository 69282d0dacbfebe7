"""Stuck upstreams against whole runs and real processes: an upstream that sends its
headers one byte every two seconds (``tests/support/hostile_upstream.py``) must not hold a run, the
ETL lock or a shutting-down server.

- ``kasparro etl`` (a subprocess) ends at ``HTTP_TIMEOUT_SECONDS`` per attempt with the
  source failed and a clear error, the other sources loaded, and the lock free afterwards;
- a stop request ends a run stuck in such a fetch at once, recorded ``failed``/``stopped``;
- ``kasparro serve`` exits promptly on SIGTERM while its startup run is in such a fetch.

The bounds asserted are loose (the run ended by the deadline or the stop, not by the
upstream); ``bench/bench_upstream_cuts.py`` measures the tight ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from kasparro.etl.pipeline import RunSummary, run_etl
from tests.conftest import make_settings
from tests.etl.conftest import by_source, query
from tests.ops.serving import BASE_ENV, kasparro_serve
from tests.reliability.figures import report
from tests.support.hostile_upstream import Dripping, dripping, http_response
from tests.support.upstream import fake_upstream
from tests.support.waiting import wait_until

DRIP = 2.0
"""Seconds between the bytes of the response headers: each read is in time."""
SMALL = http_response(b"[]")
"""70 bytes: dripped whole it would take 140 s."""
STUCK = "timed out: no complete response within 3s (HTTP_TIMEOUT_SECONDS); it was waiting for"


def kasparro_etl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kasparro.cli", "etl", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def wait_for_connection(server: Dripping, timeout: float = 60.0) -> None:
    wait_until(lambda: server.connections, timeout, "the fetch to reach the upstream")


@pytest.mark.slow
def test_kasparro_etl_ends_at_the_deadline_and_leaves_the_lock_free(
    database_url: str, engine: Engine, request: pytest.FixtureRequest
) -> None:
    with fake_upstream() as upstream, dripping(SMALL, every=DRIP) as server:
        env = {
            **os.environ,
            **BASE_ENV,
            "DATABASE_URL": database_url,
            "COINPAPRIKA_BASE_URL": f"{server.base_url}/v1",
            "COINGECKO_BASE_URL": upstream.coingecko_url,
            "HTTP_TIMEOUT_SECONDS": "3",
            "HTTP_MAX_RETRIES": "1",
        }
        started = time.monotonic()
        etl = kasparro_etl(env)
        took = time.monotonic() - started
        connections = server.wait_closed(timeout=2.0)
        again = kasparro_etl(env, "--source", "csv")

    assert etl.returncode == 2, etl.stdout + etl.stderr  # partial
    paprika = next(line for line in etl.stdout.splitlines() if line.startswith("coinpaprika"))
    assert "failed" in paprika and f"after 2 attempts: {STUCK} the response headers" in paprika
    runs = query(engine, "SELECT id, status FROM etl_runs ORDER BY id")
    assert [(r.id, r.status) for r in runs] == [(1, "partial"), (2, "success")]  # not skipped
    assert again.returncode == 0, again.stdout + again.stderr
    sources = query(
        engine, "SELECT source, status, inserted, error FROM etl_run_sources WHERE run_id = 1"
    )
    outcome = {s.source: (s.status, s.inserted) for s in sources}
    assert outcome == {
        "coinpaprika": ("failed", 0),
        "coingecko": ("success", 120),
        "csv": ("success", 1496),
        "csv2": ("success", 1274),
    }
    # Two attempts of 3 s each and a backoff of at most 1 s, not the 140 s of the drip.
    source_seconds = float(paprika.split()[8])
    assert 6.0 <= source_seconds < 12.0, paprika
    assert len(connections) == 2
    assert all(c.closed_by_client is not None for c in connections)
    held = [c.closed_by_client - c.accepted for c in connections if c.closed_by_client]
    assert all(seconds < 4.5 for seconds in held), held
    report(
        request.config,
        "stuck-upstream-etl",
        f"kasparro etl {took:.1f} s, coinpaprika {source_seconds:.2f} s, "
        f"connections held {', '.join(f'{s:.2f}' for s in held)} s",
        {"process_seconds": took, "source_seconds": source_seconds, "held": held},
    )


@pytest.mark.slow
def test_a_stop_request_ends_a_run_stuck_in_a_fetch(
    database_url: str, engine: Engine, request: pytest.FixtureRequest
) -> None:
    stop = threading.Event()
    summaries: list[RunSummary] = []
    with dripping(SMALL, every=DRIP) as server:
        settings = make_settings(
            database_url, COINPAPRIKA_BASE_URL=f"{server.base_url}/v1", HTTP_TIMEOUT_SECONDS="60"
        )
        worker = threading.Thread(
            target=lambda: summaries.append(run_etl(engine, settings.etl_config(), stop=stop))
        )
        worker.start()
        wait_for_connection(server)
        time.sleep(1.0)
        asked = time.monotonic()
        stop.set()
        worker.join(timeout=30)
        cut = time.monotonic() - asked
        [connection] = server.wait_closed(timeout=2.0)

    [summary] = summaries
    assert (summary.status, summary.error) == ("failed", "stopped")
    sources = by_source(summary)
    paprika = sources["coinpaprika"]
    assert paprika.status == "failed" and paprika.error is not None
    assert paprika.error.startswith("stopped: the run was asked to stop")
    assert {name: s.status for name, s in sources.items() if name != "coinpaprika"} == {
        "coingecko": "skipped",
        "csv": "skipped",
        "csv2": "skipped",
    }
    assert cut < 3.0, cut
    assert connection.closed_by_client is not None
    [run] = query(engine, "SELECT status, error FROM etl_runs")
    assert (run.status, run.error) == ("failed", "stopped")
    # The lock is free: the next run runs.
    after = run_etl(engine, settings.etl_config(), sources=["csv"])
    assert (after.status, by_source(after)["csv"].inserted) == ("success", 1496)
    report(
        request.config,
        "stuck-upstream-stop",
        f"stop to run returned {cut:.3f} s",
        {"stop_seconds": cut},
    )


@pytest.mark.slow
def test_sigterm_stops_kasparro_serve_while_a_fetch_drips(
    database_url: str, engine: Engine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {
        "ETL_ON_STARTUP": "true",
        "ETL_SOURCES": "coinpaprika,csv",
        "HTTP_TIMEOUT_SECONDS": "120",
    }
    with dripping(SMALL, every=DRIP) as server:
        env["COINPAPRIKA_BASE_URL"] = f"{server.base_url}/v1"
        with kasparro_serve(database_url, tmp_path, "serve", **env) as served:
            wait_for_connection(server)
            time.sleep(1.0)
            took = served.terminate(timeout=30)
            lines = served.log_lines()
        [connection] = server.wait_closed(timeout=2.0)

    assert took < 5.0, took
    assert connection.closed_by_client is not None
    [run] = query(engine, "SELECT status, error FROM etl_runs")
    assert (run.status, run.error) == ("failed", "stopped")
    [paprika] = query(engine, "SELECT status, error FROM etl_run_sources")
    assert paprika.status == "failed" and paprika.error.startswith("stopped:")
    messages: list[dict[str, Any]] = [line for line in lines if line.get("source")]
    assert any(m["message"].startswith("source coinpaprika failed: stopped") for m in messages)
    report(
        request.config,
        "stuck-upstream-sigterm",
        f"SIGTERM to exit {took:.2f} s",
        {"sigterm_seconds": took},
    )
