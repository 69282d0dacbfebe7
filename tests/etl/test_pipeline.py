"""Whole runs: all four sources into one canonical store, idempotence, partial and failed
runs, the ETL lock, stale runs, unknown sources and the run log."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kasparro.db import runs
from kasparro.etl.errors import UnknownSourceError
from kasparro.etl.http import RetryPolicy
from kasparro.etl.lock import EtlLock
from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config, query
from tests.support.upstream import TICKERS, FakeUpstream, server_error, too_many


@pytest.mark.slow
def test_all_four_sources_load_into_one_canonical_asset_per_coin(
    engine: Engine, upstream: FakeUpstream
) -> None:
    summary = run_etl(engine, make_config(upstream), retry=FAST)
    assert summary.status == "success"
    assert [s.source for s in summary.sources] == ["coinpaprika", "coingecko", "csv", "csv2"]
    for coin, ids in {
        "bitcoin": {"btc-bitcoin", "bitcoin", "BTC"},
        "ethereum": {"eth-ethereum", "ethereum", "ETH"},
    }.items():
        rows = query(
            engine,
            "SELECT DISTINCT source, record_id FROM records WHERE asset_id = :a ORDER BY source",
            a=coin,
        )
        assert {r.source for r in rows} == {"coinpaprika", "coingecko", "csv", "csv2"}
        assert {r.record_id for r in rows} == ids
    [btc] = query(engine, "SELECT count(*) AS n FROM assets WHERE symbol = 'BTC'")
    assert btc.n == 1
    # Data unified across CSV layouts: 2021-01-01 .. 2021-03-31 BTC is in both files.
    [both] = query(
        engine,
        "SELECT count(*) AS n FROM records a JOIN records b ON a.asset_id = b.asset_id "
        "AND a.timestamp = b.timestamp WHERE a.source = 'csv' AND b.source = 'csv2' "
        "AND a.asset_id = 'bitcoin'",
    )
    assert both.n == 90

    again = run_etl(engine, make_config(upstream), retry=FAST)
    assert again.status == "success"
    assert sum(s.inserted for s in again.sources) == 0
    assert sum(s.updated for s in again.sources) == 0


@pytest.mark.slow
def test_the_run_log_records_every_counter_and_checkpoint(
    engine: Engine, upstream: FakeUpstream
) -> None:
    summary = run_etl(engine, make_config(upstream), trigger="schedule", retry=FAST)
    [run] = query(engine, "SELECT * FROM etl_runs")
    assert (run.id, run.status, run.trigger, run.error) == (
        summary.run_id,
        "success",
        "schedule",
        None,
    )
    assert run.finished_at is not None and run.pid > 0
    stored = {
        r.source: r
        for r in query(engine, "SELECT * FROM etl_run_sources WHERE run_id = :r", r=summary.run_id)
    }
    for source in summary.sources:
        row = stored[source.source]
        assert row.status == source.status == "success"
        assert (row.rows_read, row.inserted, row.updated, row.unchanged) == (
            source.rows_read,
            source.inserted,
            source.updated,
            source.unchanged,
        )
        assert (row.skipped, row.rejected, row.error) == (source.skipped, source.rejected, None)
        assert row.checkpoint_before is None
        assert row.checkpoint_after is not None
    csv2 = by_source(summary)["csv2"]
    assert csv2.checkpoint_after == datetime(2021, 3, 31, 23, 59, 59, tzinfo=UTC)


def test_a_source_failing_forever_fails_alone_and_the_run_is_partial(
    engine: Engine, upstream: FakeUpstream
) -> None:
    upstream.serve(TICKERS, server_error())
    summary = run_etl(engine, make_config(upstream), retry=FAST)
    assert (summary.status, summary.error) == ("partial", "failed: coinpaprika")
    sources = by_source(summary)
    assert sources["coinpaprika"].status == "failed"
    assert "after 4 attempts: HTTP 500" in (sources["coinpaprika"].error or "")
    assert [sources[n].status for n in ("coingecko", "csv", "csv2")] == ["success"] * 3
    [stored] = query(engine, "SELECT status FROM etl_runs")
    assert stored.status == "partial"


@pytest.mark.slow
def test_offline_the_run_is_partial_quickly_with_both_csvs_loaded(engine: Engine) -> None:
    started = time.monotonic()
    summary = run_etl(engine, make_config(http_max_retries=3))  # the default backoff policy
    elapsed = time.monotonic() - started
    assert summary.status == "partial"
    sources = by_source(summary)
    assert sources["csv"].inserted == 1496 and sources["csv2"].inserted == 1274
    assert "transport error (ConnectError" in (sources["coinpaprika"].error or "")
    assert elapsed < 12


def test_every_source_failing_fails_the_run(engine: Engine, tmp_path: Path) -> None:
    config = make_config(csv_path=tmp_path / "missing.csv")
    summary = run_etl(engine, config, sources=["csv"], retry=FAST)
    assert (summary.status, summary.error) == ("failed", "every source failed")


def test_a_second_run_while_one_holds_the_lock_is_recorded_as_skipped(engine: Engine) -> None:
    with EtlLock(engine) as held:
        assert held
        summary = run_etl(engine, make_config(), sources=["csv"])
    assert (summary.status, summary.sources) == ("skipped", ())
    [run] = query(engine, "SELECT id, status, error, finished_at FROM etl_runs")
    assert (run.id, run.status, run.error) == (
        summary.run_id,
        "skipped",
        "another ETL run holds the lock",
    )
    assert run.finished_at is not None
    assert run_etl(engine, make_config(), sources=["csv"]).status == "success"


def test_a_run_left_running_by_a_dead_process_is_marked_failed(engine: Engine) -> None:
    with engine.begin() as conn:
        stale = runs.start_run(conn, "startup", datetime(2026, 1, 1, tzinfo=UTC))
        runs.start_source(conn, stale, "csv", datetime(2026, 1, 1, tzinfo=UTC), None)
    summary = run_etl(engine, make_config(), sources=["csv"])
    assert summary.status == "success"
    [old] = query(engine, "SELECT status, error FROM etl_runs WHERE id = :i", i=stale)
    assert old.status == "failed"
    assert old.error.startswith("interrupted: the process running it ended")
    [source] = query(engine, "SELECT status FROM etl_run_sources WHERE run_id = :i", i=stale)
    assert source.status == "failed"


def test_unknown_sources_raise_a_value_error_listing_the_known_ones(engine: Engine) -> None:
    with pytest.raises(
        ValueError, match=r"unknown source 'nope' \(known: coinpaprika, coingecko, csv, csv2\)"
    ):
        run_etl(engine, make_config(), sources=["csv", "nope"])
    with pytest.raises(UnknownSourceError):
        run_etl(engine, make_config(), sources=["NOPE"])
    assert query(engine, "SELECT id FROM etl_runs") == []


def test_explicit_sources_override_the_configured_ones(engine: Engine) -> None:
    summary = run_etl(engine, make_config(sources=("csv",)), sources=["CSV2"])
    assert [s.source for s in summary.sources] == ["csv2"]


def test_a_stop_request_cuts_a_retry_wait_short(engine: Engine, upstream: FakeUpstream) -> None:
    upstream.serve(TICKERS, too_many("30"))
    stop = threading.Event()
    policy = RetryPolicy(max_retries=3, retry_after_max=30.0)
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    summary = run_etl(engine, make_config(upstream), stop=stop, retry=policy)
    assert time.monotonic() - started < 5
    assert (summary.status, summary.error) == ("failed", "stopped")
    paprika = by_source(summary)["coinpaprika"]
    assert paprika.status == "failed" and (paprika.error or "").startswith("stopped")
    assert [s.status for s in summary.sources[1:]] == ["skipped"] * 3
    assert len(upstream.hits(TICKERS)) == 1
