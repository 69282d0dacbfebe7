"""The loader's fast path on the real database: rows newer than everything stored for their
record id are inserted without a conflict check, the rest merged, with exact counts;
duplicates within and across batches, and rows the ETL does not know it wrote, still count and
store exactly right."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, update

from kasparro.db.tables import latest_records
from kasparro.etl.pipeline import SourceSummary, run_etl
from tests.etl.conftest import FAST, by_source, make_config, query, write

HEADER = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"


def run_csv(engine: Engine, path: Path, batch_size: int = 3) -> SourceSummary:
    config = make_config(csv_path=path, batch_size=batch_size)
    summary = run_etl(engine, config, sources=["csv"], retry=FAST)
    assert summary.status == "success"
    return by_source(summary)["csv"]


def counts(summary: SourceSummary) -> tuple[int, int, int, int, int]:
    return (
        summary.rows_read,
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.skipped,
    )


def stored(engine: Engine) -> list[tuple[str, str, float]]:
    rows = query(
        engine, "SELECT record_id, timestamp, value FROM records ORDER BY timestamp, record_id"
    )
    return [(r.record_id, str(r.timestamp)[:10], r.value) for r in rows]


def test_duplicates_within_and_across_batches_count_exactly(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path / "prices.csv",
        HEADER
        # batch 1 (3 valid rows): BTC day 1 twice, the second wins and is an update
        + "BTC,Bitcoin,1,,,2021-07-01T00:00:00Z\n"
        + "ETH,Ethereum,10,,,2021-07-01T00:00:00Z\n"
        + "BTC,Bitcoin,2,,,2021-07-01T00:00:00Z\n"
        # batch 2: ETH day 1 again, the same value (unchanged), then newer rows
        + "ETH,Ethereum,10,,,2021-07-01T00:00:00Z\n"
        + "BTC,Bitcoin,3,,,2021-07-02T00:00:00Z\n"
        + "ETH,Ethereum,11,,,2021-07-02T00:00:00Z\n"
        # batch 3: BTC day 2 corrected (an update), an exact duplicate, one new row
        + "BTC,Bitcoin,4,,,2021-07-02T00:00:00Z\n"
        + "ETH,Ethereum,11,,,2021-07-02T00:00:00Z\n"
        + "BTC,Bitcoin,5,,,2021-07-03T00:00:00Z\n",
    )
    first = run_csv(engine, path)
    assert counts(first) == (9, 5, 2, 2, 0)
    assert stored(engine) == [
        ("BTC", "2021-07-01", 2.0),
        ("ETH", "2021-07-01", 10.0),
        ("BTC", "2021-07-02", 4.0),
        ("ETH", "2021-07-02", 11.0),
        ("BTC", "2021-07-03", 5.0),
    ]


def test_rows_written_behind_the_etls_back_fall_back_to_merging_and_never_double_count(
    engine: Engine, tmp_path: Path
) -> None:
    lines = [f"BTC,Bitcoin,{day},,,2021-07-{day:02d}T00:00:00Z\n" for day in range(1, 8)]
    path = write(tmp_path / "prices.csv", HEADER + "".join(lines))
    assert counts(run_csv(engine, path)) == (7, 7, 0, 0, 0)
    with engine.begin() as conn:  # the store forgets it has them (restored without its heads)
        conn.exec_driver_sql("DELETE FROM latest_records")
        conn.exec_driver_sql("UPDATE checkpoints SET high_water = NULL, fingerprint = NULL")
    # Every key exists although nothing says it was loaded; day 7 is corrected.
    write(path, HEADER + "".join(lines[:6]) + "BTC,Bitcoin,70,,,2021-07-07T00:00:00Z\n")
    again = run_csv(engine, path)
    assert counts(again) == (7, 0, 1, 6, 0)
    assert [value for _, _, value in stored(engine)] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 70.0]
    assert again.checkpoint_after is not None and again.checkpoint_after.day == 7


def test_a_head_behind_the_data_mixes_fast_and_merged_rows(engine: Engine, tmp_path: Path) -> None:
    lines = [f"BTC,Bitcoin,{day},,,2021-07-{day:02d}T00:00:00Z\n" for day in range(1, 5)]
    path = write(tmp_path / "prices.csv", HEADER + "".join(lines))
    run_csv(engine, path, batch_size=10)
    with engine.begin() as conn:  # pretend only days 1-2 were loaded
        conn.execute(update(latest_records).values(timestamp=datetime(2021, 7, 2, tzinfo=UTC)))
        conn.exec_driver_sql("UPDATE checkpoints SET fingerprint = NULL")
    newer = [f"BTC,Bitcoin,{day},,,2021-07-{day:02d}T00:00:00Z\n" for day in range(5, 7)]
    write(path, HEADER + "".join(lines) + "".join(newer))
    # Days 3-4 lie above BTC's head yet exist: the batch is merged as a whole.
    assert counts(run_csv(engine, path, batch_size=10)) == (6, 2, 0, 4, 0)
    assert [value for _, _, value in stored(engine)] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_appended_rows_take_the_fast_path_and_a_lookback_correction_is_merged(
    engine: Engine, tmp_path: Path
) -> None:
    lines = [f"BTC,Bitcoin,{day},,,2021-07-{day:02d}T00:00:00Z\n" for day in range(1, 4)]
    path = write(tmp_path / "prices.csv", HEADER + "".join(lines))
    run_csv(engine, path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("BTC,Bitcoin,30,,,2021-07-03T00:00:00Z\n")  # inside the lookback window
        handle.write("BTC,Bitcoin,4,,,2021-07-04T00:00:00Z\n")
        handle.write("ETH,Ethereum,40,,,2021-07-04T00:00:00Z\n")
    assert counts(run_csv(engine, path)) == (3, 2, 1, 0, 0)
    assert stored(engine)[-3:] == [
        ("BTC", "2021-07-03", 30.0),
        ("BTC", "2021-07-04", 4.0),
        ("ETH", "2021-07-04", 40.0),
    ]
