"""The two CSV sources end to end on the real database: normalization, rejects, schema drift,
incremental reads (unchanged, appended, corrected, resumed) and the lookback window."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from kasparro.etl.pipeline import ProgressEvent, run_etl
from kasparro.etl.progress import RunSummary
from tests.etl.conftest import FAST, by_source, make_config, query, record, write

HEADER = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"


def run_csv(engine: Engine, path: Path, **changes: object) -> RunSummary:
    config = make_config(upstream=None, csv_path=path, **changes)
    return run_etl(engine, config, sources=["csv"], retry=FAST)


def test_csv_rows_are_normalized_with_aliased_case_insensitive_headers(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "prices.csv",
        "Ticker,NAME,Price,Market Cap,Volume,Date\n"
        "btc,Bitcoin ,34000.5,640000000000,1.5e10,2021-07-06T23:59:59Z\n"
        "eth,Ethereum,2300.25,,,2021-07-07T01:00:00+02:00\n",
    )
    summary = run_etl(engine, make_config(csv_path=path), sources=["csv"])
    assert summary.status == "success"
    csv = by_source(summary)["csv"]
    assert (csv.rows_read, csv.inserted, csv.rejected) == (2, 2, 0)
    [btc] = record(engine, "csv", "BTC")
    assert (btc.asset_id, btc.symbol, btc.name) == ("bitcoin", "BTC", "Bitcoin")
    assert (btc.value, btc.market_cap, btc.volume_24h) == (34000.5, 640000000000.0, 1.5e10)
    assert btc.timestamp == datetime(2021, 7, 6, 23, 59, 59, tzinfo=UTC)
    [eth] = record(engine, "csv", "ETH")
    assert eth.timestamp == datetime(2021, 7, 6, 23, 0, tzinfo=UTC)
    assert (eth.market_cap, eth.volume_24h, eth.asset_id) == (None, None, "ethereum")
    assert csv.checkpoint_after == datetime(2021, 7, 6, 23, 59, 59, tzinfo=UTC)


def test_csv2_kaggle_layout_uses_close_as_the_value(engine: Engine) -> None:
    summary = run_etl(engine, make_config(), sources=["csv2"])
    csv2 = by_source(summary)["csv2"]
    assert (csv2.status, csv2.rows_read, csv2.inserted, csv2.rejected) == ("success", 1274, 1274, 0)
    first = record(engine, "csv2", "BTC")[0]
    # 2713,Bitcoin,BTC,2020-10-01 23:59:59,10933.62…,10472.35…,10795.25…,10619.45190766,…
    assert first.timestamp == datetime(2020, 10, 1, 23, 59, 59, tzinfo=UTC)
    assert first.value == 10619.45190766
    assert first.volume_24h == 40023134099.56767
    assert first.market_cap == 196512086756.27814
    assert (first.asset_id, first.name) == ("bitcoin", "Bitcoin")
    bnb = record(engine, "csv2", "BNB")[0]
    assert (bnb.asset_id, bnb.name) == ("binancecoin", "Binance Coin")


def test_bad_rows_are_rejected_with_line_reason_and_raw_text(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "bad.csv",
        HEADER
        + "BTC,Bitcoin,100,1,1,2021-01-01T00:00:00Z\n"
        + "BTC,Bitcoin,-5,1,1,2021-01-02T00:00:00Z\n"
        + "BTC,Bitcoin,nan,1,1,2021-01-03T00:00:00Z\n"
        + "BTC,Bitcoin,7,1,1,2008-06-01T00:00:00Z\n"
        + "BTC,Bitcoin,7,1,1,2999-01-01T00:00:00Z\n"
        + ",Nameless,7,1,1,2021-01-04T00:00:00Z\n"
        + "BTC,Bitcoin,7\n"
        + "BTC,Bitcoin,8,abc,1,not a date\n",
    )
    summary = run_csv(engine, path)
    csv = by_source(summary)["csv"]
    # 7 of 8 rejected is more than ETL_MAX_REJECT_RATIO (0.5): failed, the good row kept.
    assert (csv.status, csv.rows_read, csv.inserted, csv.rejected) == ("failed", 8, 1, 7)
    assert (csv.error or "").startswith("likely schema drift: 7 of 8 read were rejected")
    rejects = query(
        engine, "SELECT locator, reason, raw, run_id FROM rejects WHERE source = 'csv' ORDER BY id"
    )
    assert [(r.locator, r.reason) for r in rejects] == [
        ("line 3", "price_usd '-5' must be a finite number >= 0"),
        ("line 4", "price_usd 'nan' must be a finite number >= 0"),
        ("line 5", "timestamp '2008-06-01T00:00:00Z' is before 2009-01-01"),
        (
            "line 6",
            "timestamp '2999-01-01T00:00:00Z' is in the future by more than the 300 s of "
            "clock skew allowed (ETL_MAX_FUTURE_SECONDS)",
        ),
        ("line 7", "symbol is empty"),
        ("line 8", "expected at least 6 fields, got 3"),
        ("line 9", "timestamp 'not a date' is not ISO-8601"),
    ]
    assert rejects[0].raw == "BTC,Bitcoin,-5,1,1,2021-01-02T00:00:00Z"
    assert {r.run_id for r in rejects} == {summary.run_id}


def test_a_missing_required_column_fails_only_that_source(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "drift.csv", "symbol,name,market_cap,when\nBTC,Bitcoin,1,2021\n")
    summary = run_etl(engine, make_config(csv_path=path), sources=["csv", "csv2"])
    assert summary.status == "partial"
    csv, csv2 = by_source(summary)["csv"], by_source(summary)["csv2"]
    assert csv.status == "failed"
    assert csv.error == (
        "CSV header lacks required column(s) price_usd, timestamp; expected symbol, name, "
        "price_usd, market_cap, volume_24h, timestamp (required: symbol, name, price_usd, "
        "timestamp); found symbol, name, market_cap, when"
    )
    assert (csv2.status, csv2.inserted) == ("success", 1274)
    [stored] = query(engine, "SELECT status, error FROM etl_run_sources WHERE source = 'csv'")
    assert (stored.status, stored.error) == ("failed", csv.error)


def test_a_missing_file_fails_the_source_with_its_path(engine: Engine, tmp_path: Path) -> None:
    summary = run_csv(engine, tmp_path / "nope.csv")
    assert summary.status == "failed"
    assert "nope.csv" in (by_source(summary)["csv"].error or "")


def test_second_run_over_an_unchanged_file_reads_nothing(engine: Engine) -> None:
    first = by_source(run_etl(engine, make_config(), sources=["csv"]))["csv"]
    assert (first.rows_read, first.inserted) == (1496, 1496)
    second = by_source(run_etl(engine, make_config(), sources=["csv"]))["csv"]
    assert (second.status, second.rows_read, second.inserted, second.updated) == (
        "success",
        0,
        0,
        0,
    )
    assert second.note == "file unchanged since the last run; not read"
    assert second.checkpoint_before == second.checkpoint_after == first.checkpoint_after
    [count] = query(engine, "SELECT count(*) AS n FROM records WHERE source = 'csv'")
    assert count.n == 1496


def test_an_appended_row_loads_alone(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes((Path(make_config().csv_path)).read_bytes())
    run_csv(engine, path)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("BTC,Bitcoin,34500.0,650000000000,2.5e10,2021-07-07T23:59:59Z\n")
    csv = by_source(run_csv(engine, path))["csv"]
    assert (csv.rows_read, csv.inserted, csv.updated, csv.unchanged, csv.skipped) == (1, 1, 0, 0, 0)
    assert csv.checkpoint_after == datetime(2021, 7, 7, 23, 59, 59, tzinfo=UTC)
    assert record(engine, "csv", "BTC")[-1].value == 34500.0


def test_a_corrected_value_is_an_update(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        HEADER
        + "BTC,Bitcoin,100,,,2021-07-04T23:00:00Z\n"
        + "BTC,Bitcoin,200,,,2021-07-06T00:00:00Z\n"
        + "ETH,Ethereum,10,,,2021-07-06T00:00:00Z\n",
    )
    run_csv(engine, path)
    write(path, path.read_text().replace("BTC,Bitcoin,200", "BTC,Bitcoin,201"))
    csv = by_source(run_csv(engine, path))["csv"]
    # The changed file is read whole; the 07-05 row is older than checkpoint - 1 day.
    assert (csv.rows_read, csv.inserted, csv.updated, csv.unchanged, csv.skipped) == (3, 0, 1, 1, 1)
    assert [r.value for r in record(engine, "csv", "BTC")] == [100.0, 201.0]


def test_late_rows_inside_their_coins_lookback_load_and_older_ones_are_skipped(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path / "p.csv", HEADER + "BTC,Bitcoin,100,,,2021-07-06T12:00:00Z\n")
    run_csv(engine, path, lookback_seconds=3600)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("BTC,Bitcoin,99,,,2021-07-06T11:30:00Z\n")  # 30 min late: inside
        handle.write("BTC,Bitcoin,98,,,2021-07-06T10:00:00Z\n")  # 2 h late: outside
        handle.write("LTC,Litecoin,140,,,2021-07-06T10:00:00Z\n")  # a coin new to the store
    csv = by_source(run_csv(engine, path, lookback_seconds=3600))["csv"]
    assert (csv.rows_read, csv.inserted, csv.skipped) == (3, 2, 1)
    assert [row.value for row in record(engine, "csv", "BTC")] == [99.0, 100.0]
    assert len(record(engine, "csv", "LTC")) == 1
    assert csv.checkpoint_after == datetime(2021, 7, 6, 12, 0, tzinfo=UTC)


def test_a_stopped_run_keeps_its_batches_and_the_next_run_resumes(engine: Engine) -> None:
    stop = threading.Event()

    def stop_after_first_batch(event: ProgressEvent) -> None:
        if event.kind == "batch":
            stop.set()

    config = make_config(batch_size=500)
    summary = run_etl(
        engine, config, sources=["csv", "csv2"], progress=stop_after_first_batch, stop=stop
    )
    assert (summary.status, summary.error) == ("failed", "stopped")
    csv, csv2 = by_source(summary)["csv"], by_source(summary)["csv2"]
    assert (csv.status, csv.inserted) == ("failed", 500)
    assert csv.error is not None and csv.error.startswith("stopped")
    assert csv.checkpoint_after is None  # the high-water mark moves only at the end
    assert (csv2.status, csv2.error) == ("skipped", "stopped before it started")
    resumed = by_source(run_etl(engine, config, sources=["csv"]))["csv"]
    assert (resumed.rows_read, resumed.inserted, resumed.skipped) == (996, 996, 0)
    [count] = query(engine, "SELECT count(*) AS n FROM records WHERE source = 'csv'")
    assert count.n == 1496


def test_a_same_size_rewrite_with_the_same_mtime_is_still_read(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path / "p.csv", HEADER + "BTC,Bitcoin,200,,,2021-07-06T00:00:00Z\n")
    run_csv(engine, path)
    stat = path.stat()
    write(path, HEADER + "BTC,Bitcoin,201,,,2021-07-06T00:00:00Z\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    csv = by_source(run_csv(engine, path))["csv"]
    assert (csv.rows_read, csv.updated, csv.note) == (1, 1, None)
