"""The fast path writes a batch in key order and decides a clash exactly: the same rows in any
order load to the same store, and a stored row newer than a batch (without a shared key) does
not turn a fresh batch into a merge."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from kasparro.db import load
from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config, query, write

HEADER = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
COINS = [("BTC", "Bitcoin"), ("ETH", "Ethereum"), ("ADA", "Cardano"), ("XRP", "XRP")]


def lines() -> list[str]:
    return [
        f"{symbol},{name},{day * 10 + index}.5,{day},,2021-07-{day:02d}T00:00:00Z\n"
        for day in range(1, 11)
        for index, (symbol, name) in enumerate(COINS)
    ]


def stored(engine: Engine) -> list[tuple[object, ...]]:
    rows = query(
        engine,
        "SELECT source, record_id, timestamp, asset_id, symbol, name, value, market_cap, "
        "volume_24h FROM records ORDER BY record_id, timestamp",
    )
    return [tuple(row) for row in rows]


def load_file(engine: Engine, path: Path) -> tuple[int, int, int, int]:
    summary = run_etl(engine, make_config(csv_path=path, batch_size=7), sources=["csv"], retry=FAST)
    assert summary.status == "success"
    csv = by_source(summary)["csv"]
    return csv.rows_read, csv.inserted, csv.updated, csv.unchanged


def test_a_shuffled_file_loads_to_the_same_store(engine: Engine, tmp_path: Path) -> None:
    ordered = lines()
    assert load_file(engine, write(tmp_path / "a.csv", HEADER + "".join(ordered))) == (40, 40, 0, 0)
    expected = stored(engine)
    assert len(expected) == 40
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM records")
        conn.exec_driver_sql("DELETE FROM latest_records")
        conn.exec_driver_sql("DELETE FROM checkpoints")
    shuffled = ordered[:]
    random.Random(6).shuffle(shuffled)
    assert load_file(engine, write(tmp_path / "b.csv", HEADER + "".join(shuffled))) == (
        40,
        40,
        0,
        0,
    )
    assert stored(engine) == expected


def staged(record_id: str, stamp: str, value: float) -> load.StagedRow:
    asset_id = record_id.lower()
    return load.StagedRow(record_id, stamp, asset_id, record_id, record_id, value, None, None)


def test_a_newer_stored_row_without_a_shared_key_still_takes_the_fast_path(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        assert load.insert_fresh_records(
            conn, "csv", [staged("BTC", "2021-07-09 00:00:00.000000", 9.0)], 1, NOW
        )
    # ETH rows older than the stored BTC row, in reverse key order: no key clashes.
    batch = [staged("ETH", f"2021-07-0{day} 00:00:00.000000", float(day)) for day in (8, 2, 5)]
    with engine.begin() as conn:
        assert load.insert_fresh_records(conn, "csv", batch, 2, NOW)
    # One key exists: nothing of the batch is written.
    clash = [
        staged("ADA", "2021-07-01 00:00:00.000000", 1.0),
        staged("ETH", "2021-07-05 00:00:00.000000", 50.0),
    ]
    with engine.begin() as conn:
        assert not load.insert_fresh_records(conn, "csv", clash, 3, NOW)
    rows = query(engine, "SELECT record_id, value, run_id FROM records ORDER BY record_id, value")
    assert [tuple(row) for row in rows] == [
        ("BTC", 9.0, 1),
        ("ETH", 2.0, 2),
        ("ETH", 5.0, 2),
        ("ETH", 8.0, 2),
    ]
