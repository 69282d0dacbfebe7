"""A run's bookkeeping against a database that refuses writes for a while (a real lock held
from another session): bounded retries, what is owed, and the ledger writing it late."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine

from kasparro.db import runs
from kasparro.db.outcomes import COUNTERS, RunStatus
from kasparro.db.runs import RunFinal, SourceFinal
from kasparro.etl.bookkeeping import Bookkeeper, RunLedger
from tests.etl.conftest import query
from tests.support.dblocks import held_lock

COUNTS = dict.fromkeys(COUNTERS, 7)


def release_later(seconds: float, engine: Engine) -> tuple[threading.Event, threading.Thread]:
    """Hold the lock in a thread until ``seconds`` pass; the event says it is held."""
    held = threading.Event()

    def hold() -> None:
        with held_lock(engine, "etl_runs", "etl_run_sources"):
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    return held, thread


def new_run(engine: Engine) -> int:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        run_id = runs.start_run(conn, "manual", now)
        runs.start_source(conn, run_id, "csv", now, None)
    return run_id


def finish(run_id: int) -> RunFinal:
    end = SourceFinal("csv", COUNTS, None, RunStatus.FAILED, "database: locked", datetime.now(UTC))
    return RunFinal(run_id, RunStatus.FAILED, "every source failed", datetime.now(UTC), (end,))


def write_final(final: RunFinal) -> Callable[[Connection], bool]:
    def write(conn: Connection) -> bool:
        return runs.record_final(conn, final)

    return write


@pytest.mark.slow
def test_a_write_refused_for_less_than_the_budget_is_retried_and_lands(engine: Engine) -> None:
    run_id = new_run(engine)
    _, holder = release_later(1.0, engine)
    book = Bookkeeper(engine, 5.0, threading.Event())
    started = time.monotonic()
    assert book.write("the end", write_final(finish(run_id)))
    took = time.monotonic() - started
    holder.join()
    assert 0.9 < took < 4
    [run] = query(engine, "SELECT status, error FROM etl_runs")
    [source] = query(engine, "SELECT status, error, rows_read FROM etl_run_sources")
    assert (run.status, run.error) == ("failed", "every source failed")
    assert (source.status, source.error, source.rows_read) == ("failed", "database: locked", 7)


@pytest.mark.slow
def test_past_the_budget_the_end_is_owed_and_the_ledger_writes_it_later(engine: Engine) -> None:
    run_id = new_run(engine)
    ledger = RunLedger()
    ledger.started(run_id)
    final = finish(run_id)
    _, holder = release_later(3.0, engine)
    book = Bookkeeper(engine, 1.0, threading.Event())
    started = time.monotonic()
    assert not book.write("the end", write_final(final))
    assert time.monotonic() - started < 2.5  # the budget bounds it, not the lock
    ledger.owe(final)
    assert ledger.owes and not ledger.settle(engine, 0.2)  # still locked
    holder.join()
    assert ledger.settle(engine, 1.0) and not ledger.owes
    [run] = query(engine, "SELECT status, error FROM etl_runs")
    assert (run.status, run.error) == ("failed", "every source failed")


def test_close_out_ends_runs_still_in_flight_and_never_overwrites_an_ended_one(
    engine: Engine,
) -> None:
    in_flight, ended_elsewhere = new_run(engine), new_run(engine)
    with engine.begin() as conn:  # another process's run ended this one meanwhile
        runs.finish_run(
            conn, ended_elsewhere, RunStatus.FAILED, datetime.now(UTC), "interrupted: …"
        )
    ledger = RunLedger()
    ledger.started(in_flight)
    ledger.owe(finish(ended_elsewhere))
    ledger.close_out(engine, 1.0, "stopped: the server shut down before the run ended")
    rows = query(engine, "SELECT id, status, error FROM etl_runs ORDER BY id")
    assert [(r.status, r.error) for r in rows] == [
        ("failed", "stopped: the server shut down before the run ended"),
        ("failed", "interrupted: …"),
    ]
    sources = query(engine, "SELECT run_id, status, error FROM etl_run_sources ORDER BY run_id")
    assert [(s.status, s.error) for s in sources] == [
        ("failed", "stopped: the server shut down before the run ended"),
        ("running", None),  # not the ledger's to touch: its run was ended by another
    ]
    assert not ledger.owes


@pytest.mark.parametrize(("stopping", "attempts"), [(False, 1), (True, 2)])
@pytest.mark.slow
def test_once_stopping_each_attempt_waits_at_most_a_second(
    engine: Engine, caplog: pytest.LogCaptureFixture, stopping: bool, attempts: int
) -> None:
    run_id = new_run(engine)
    stop = threading.Event()
    if stopping:
        stop.set()
    _, holder = release_later(4.0, engine)
    book = Bookkeeper(engine, 2.5, stop)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="kasparro.etl.bookkeeping"):
        assert not book.write("the end", write_final(finish(run_id)))
    took = time.monotonic() - started
    holder.join()
    assert took < 3.5  # never much past the budget, however each attempt waits
    assert len([r for r in caplog.records if r.name == "kasparro.etl.bookkeeping"]) == attempts
