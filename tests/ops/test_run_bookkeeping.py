"""A manual run (``POST /etl/run``) of a real `kasparro serve` meets a database lock mid-run.

Another session takes the write lock while the run loads a large file: on SQLite
``BEGIN EXCLUSIVE`` (from another connection: the server is another process), on PostgreSQL
``LOCK TABLE records, etl_runs, etl_run_sources IN ACCESS EXCLUSIVE MODE``, so both the
batch being written and the run's own bookkeeping are refused.

- Left alone (issue #13, item 9): the run must end in bounded time (ETL_LOCK_TIMEOUT_SECONDS
  for the batch, ETL_BOOKKEEPING_TIMEOUT_SECONDS for its record), the client must get a
  clean 503 saying the run's record is pending, and once the lock is gone the server itself
  must record the run's true end (not "interrupted", and not only at the next run).
- With SIGTERM meanwhile (item 8): the client gets a clean 503 saying the run was stopped,
  the run is recorded ``failed`` / ``stopped`` before the process exits, and the process
  exits as after any graceful shutdown.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.etl.conftest import query
from tests.ops.serving import Served, kasparro_serve, synthetic_csv
from tests.reliability.figures import report
from tests.support.dblocks import held_lock
from tests.support.waiting import seconds_until, wait_until

ROWS = 200_000
TOKEN = "bookkeeping-token"
LOCK_TIMEOUT = 3.0
BOOKKEEPING = 3.0
GRACE = 1.0
SETTLE = 5.0  # etl.scheduler.SETTLE_SECONDS
MARGIN = 3.0
WRITTEN = ("records", "etl_runs", "etl_run_sources")
"""What the lock covers on PostgreSQL: the batch's table and the run's own records."""


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic CSV large enough to be mid-load when the lock comes."""
    return synthetic_csv(tmp_path_factory.mktemp("bookkeeping") / "prices.csv", ROWS)


def serve(
    database_url: str, tmp_path: Path, csv: Path
) -> contextlib.AbstractContextManager[Served]:
    return kasparro_serve(
        database_url,
        tmp_path,
        "serve",
        ADMIN_TOKEN=TOKEN,
        ETL_SOURCES="csv",
        CSV_PATH=str(csv),
        ETL_BATCH_SIZE="2000",
        ETL_LOCK_TIMEOUT_SECONDS=str(LOCK_TIMEOUT),
        ETL_BOOKKEEPING_TIMEOUT_SECONDS=str(BOOKKEEPING),
        ETL_STOP_GRACE_SECONDS=str(GRACE),
    )


class ManualRun(threading.Thread):
    """``POST /etl/run`` in the background: the answer, and when it came."""

    def __init__(self, served: Served) -> None:
        super().__init__(daemon=True)
        self.url = f"{served.base_url}/etl/run"
        self.response: httpx.Response | None = None
        self.answered: float | None = None

    def run(self) -> None:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        self.response = httpx.post(self.url, headers=auth, timeout=120)
        self.answered = time.monotonic()


def wait_for_rows(engine: Engine, served: Served) -> None:
    """Until the run has committed some rows (it is mid-load)."""

    def loading() -> bool:
        assert served.process.poll() is None, served.log()
        return bool(query(engine, "SELECT 1 FROM records LIMIT 1"))

    wait_until(loading, 60, served.log)


def answer(run: ManualRun) -> tuple[int, dict[str, str], dict[str, Any]]:
    assert run.response is not None
    headers = {name.lower(): value for name, value in run.response.headers.items()}
    return run.response.status_code, headers, run.response.json()


def run_rows(engine: Engine) -> list[Any]:
    return query(engine, "SELECT id, status, error, finished_at FROM etl_runs ORDER BY id")


def source_rows(engine: Engine) -> list[Any]:
    return query(engine, "SELECT run_id, status, error FROM etl_run_sources ORDER BY run_id")


def errors_logged(served: Served) -> list[str]:
    return [
        line["message"] for line in served.log_lines() if line["level"] in ("error", "critical")
    ]


@contextlib.contextmanager
def manual_run_loading(
    database_url: str, engine: Engine, tmp_path: Path, csv: Path
) -> Iterator[tuple[Served, ManualRun]]:
    """A server whose manual run has committed its first rows and is loading the rest."""
    with serve(database_url, tmp_path, csv) as served:
        run = ManualRun(served)
        run.start()
        wait_for_rows(engine, served)
        yield served, run


@pytest.mark.slow
def test_a_write_lock_mid_run_ends_it_in_bounded_time_and_the_server_records_it(
    database_url: str, engine: Engine, tmp_path: Path, big_csv: Path, pytestconfig: pytest.Config
) -> None:
    with manual_run_loading(database_url, engine, tmp_path, big_csv) as (served, run):
        with held_lock(engine, *WRITTEN):
            locked = time.monotonic()
            run.join(timeout=LOCK_TIMEOUT + 2 * BOOKKEEPING + MARGIN + 10)
            assert run.answered is not None, "no answer while the lock was held"
            took = run.answered - locked
            with httpx.Client(base_url=served.base_url, timeout=10) as client:
                health = client.get("/health")  # the server is alive and says so
            pending = run_rows(engine) if engine.dialect.name == "sqlite" else None
            time.sleep(0.5)
        recorded_after = seconds_until(
            lambda: run_rows(engine)[0].status != "running", SETTLE + MARGIN, served.log, 0.1
        )
        [first] = run_rows(engine)
        [source] = source_rows(engine)
        # The next run of the same process is not told the first one died.
        with httpx.Client(base_url=served.base_url, timeout=60) as client:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            second = client.post("/etl/run", headers=auth)
        errors = errors_logged(served)

    status, headers, body = answer(run)
    assert status == 503, body
    assert headers["retry-after"] == "5"
    assert body["error"].startswith(f"ETL run {first.id} ended failed (")
    assert body["error"].endswith(
        "but the database has not accepted its record yet; the server records it when it can"
    )
    assert took < LOCK_TIMEOUT + 2 * BOOKKEEPING + MARGIN, took
    assert health.status_code == 200 and health.json()["db"] == "ok"
    if pending is not None:  # readable meanwhile on SQLite: the run's row said running
        assert [row.status for row in pending] == ["running"]
    assert (first.status, first.error) == ("failed", "every source failed")
    assert first.finished_at is not None
    assert source.status == "failed" and source.error.startswith("database: ")
    assert "interrupted" not in (first.error or "")
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "success"
    assert run_rows(engine)[0].error == "every source failed"
    assert recorded_after < SETTLE + MARGIN
    assert errors == [
        f"ETL run {first.id} ended failed but could not be recorded yet; this process will "
        "record it when the database accepts writes"
    ]
    figures = {
        "answered_after_lock_s": round(took, 2),
        "recorded_after_release_s": round(recorded_after, 2),
        "source_error": source.error,
    }
    report(pytestconfig, "writer-lock-mid-run", json.dumps(figures), figures)


@pytest.mark.slow
def test_sigterm_during_a_blocked_manual_run_answers_503_and_records_it_stopped(
    database_url: str, engine: Engine, tmp_path: Path, big_csv: Path, pytestconfig: pytest.Config
) -> None:
    with manual_run_loading(database_url, engine, tmp_path, big_csv) as (served, run):
        with held_lock(engine, *WRITTEN):  # the run's next write now waits for it
            signalled = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            # Held past the grace period (PostgreSQL: the blocked statement is cancelled;
            # SQLite cannot cancel a lock wait), then gone within the server's 8 s.
            time.sleep(GRACE + 1.5)
        run.join(timeout=30)
        exit_took = served.terminate(timeout=30)
        errors = errors_logged(served)
        log = served.log()

    assert run.answered is not None
    status, headers, body = answer(run)
    assert status == 503, body
    assert headers["retry-after"] == "5"
    [first] = run_rows(engine)
    [source] = source_rows(engine)
    assert body == {
        "error": f"the server is shutting down: ETL run {first.id} was stopped (its work up "
        "to the last batch is kept); run it again later",
        "request_id": headers["x-request-id"],
    }
    assert run.answered - signalled < 8  # GRACEFUL_SHUTDOWN_SECONDS
    assert (first.status, first.error) == ("failed", "stopped")
    # Stopped (its statement cancelled, or at the batch boundary after the lock went);
    # on SQLite its lock wait may also have ended just before the signal came.
    assert source.status == "failed"
    assert source.error.startswith(("stopped: ", "database: database is locked")), source.error
    assert exit_took < 30
    assert not errors, errors
    assert "Exception in ASGI application" not in log
    figures = {
        "answered_after_sigterm_s": round(run.answered - signalled, 2),
        "process_exit_after_answer_s": round(exit_took, 2),
        "source_error": source.error,
    }
    report(pytestconfig, "stop-in-flight", json.dumps(figures), figures)
