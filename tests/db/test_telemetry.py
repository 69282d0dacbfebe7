from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, event

from kasparro.db.telemetry import (
    RunCount,
    etl_snapshot,
    last_success,
    latest_status,
    row_totals,
    run_counts,
)
from tests.db.runlog import (
    CSV_OK_2,
    GECKO_OK_1,
    SCENARIO,
    SCENARIO_ROWS,
    T0,
    Run,
    SourceRun,
    write_runs,
)


def test_empty_run_log(engine: Engine) -> None:
    with engine.connect() as conn:
        snapshot = etl_snapshot(conn)
    assert snapshot.runs == ()
    assert snapshot.running == 0
    assert snapshot.rows == {}
    assert snapshot.last_success == {}
    assert snapshot.latest_status == {}


def test_run_counts_leave_running_runs_apart(engine: Engine) -> None:
    write_runs(engine, SCENARIO)
    with engine.connect() as conn:
        finished, running = run_counts(conn)
    assert sorted(finished, key=lambda c: (c.status, c.trigger)) == [
        RunCount("partial", "schedule", 1),
        RunCount("skipped", "schedule", 1),
        RunCount("success", "startup", 1),
    ]
    assert running == 1


def test_row_totals_sum_every_run_of_a_source(engine: Engine) -> None:
    write_runs(engine, SCENARIO)
    with engine.connect() as conn:
        totals = row_totals(conn)
    assert totals == SCENARIO_ROWS
    assert all(type(value) is int for outcomes in totals.values() for value in outcomes.values())


def test_last_success_is_the_newest_successful_finish(engine: Engine) -> None:
    write_runs(engine, SCENARIO)
    with engine.connect() as conn:
        found = last_success(conn)
    # coingecko failed in run 2: its last success is still run 1's.
    assert found == {"csv": CSV_OK_2, "coingecko": GECKO_OK_1}
    assert all(stamp.utcoffset() == timedelta(0) for stamp in found.values())


def test_latest_status_is_the_newest_run_of_each_source(engine: Engine) -> None:
    write_runs(engine, SCENARIO)
    with engine.connect() as conn:
        assert latest_status(conn) == {"csv": "running", "coingecko": "failed"}


def test_latest_status_follows_the_run_id_not_the_finish_time(engine: Engine) -> None:
    # Run 2 finished before run 1 did (clock skew between replicas): run 2 is still newer.
    later = T0 + timedelta(hours=5)
    write_runs(
        engine,
        [
            Run("failed", "schedule", T0, later, {"csv": SourceRun("failed", later)}),
            Run("success", "schedule", T0, T0, {"csv": SourceRun("success", T0)}),
        ],
    )
    with engine.connect() as conn:
        assert latest_status(conn) == {"csv": "success"}


def test_snapshot_is_four_grouped_queries_whatever_the_history(engine: Engine) -> None:
    write_runs(engine, SCENARIO * 25)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        with engine.connect() as conn:
            snapshot = etl_snapshot(conn)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 4
    assert all("GROUP BY" in statement for statement in statements)
    assert snapshot.running == 25
    assert snapshot.rows["csv"]["read"] == 25 * 25
