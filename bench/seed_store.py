"""Fill a migrated store with N synthetic records for the serving benchmarks.

    python bench/seed_store.py --rows 1000000 --database-url postgresql://…/kasparro_bench_1m

1000 assets reported by the four sources (coinpaprika, coingecko, csv, csv2), hourly
timestamps going back from 2026-11-01, one successful ETL run. The store is written with
bulk statements (COPY on PostgreSQL) with the secondary indexes dropped during the load and
rebuilt after it; ``latest_records`` is then filled from the records in one statement
(``db.latest.fill``). Values are synthetic: this is load for a benchmark, not market data.
"""

from __future__ import annotations

import argparse
import io
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select

from kasparro.db import latest
from kasparro.db.engine import create_db_engine
from kasparro.db.migrate import upgrade
from kasparro.db.tables import (
    asset_aliases,
    assets,
    etl_run_sources,
    etl_runs,
    latest_records,
    records,
)

SOURCES = ("coinpaprika", "coingecko", "csv", "csv2")
END = datetime(2026, 11, 1, tzinfo=UTC)
CHUNK = 200_000


def record_id(source: str, index: int) -> str:
    if source == "coinpaprika":
        return f"syn{index}-synthetic-coin-{index}"
    if source == "coingecko":
        return f"synthetic-coin-{index}"
    return f"SYN{index:04d}"


def rows(total: int, coins: int) -> Iterator[tuple[object, ...]]:
    """(source, record_id, timestamp, asset_id, symbol, name, value, mcap, vol, run, ingested)"""
    rng = random.Random(total)
    pairs = [(source, index) for index in range(coins) for source in SOURCES]
    per_pair, extra = divmod(total, len(pairs))
    now = datetime.now(UTC)
    for position, (source, index) in enumerate(pairs):
        count = per_pair + (1 if position < extra else 0)
        price = rng.uniform(0.01, 50_000.0)
        for hour in range(count):
            price *= 1.0 + rng.gauss(0.0, 0.01)
            yield (
                source,
                record_id(source, index),
                END - timedelta(hours=hour),
                f"synthetic-coin-{index}",
                f"SYN{index:04d}",
                f"Synthetic Coin {index:04d}",
                price,
                price * 1e7,
                price * 1e5,
                1,
                now,
            )


def _copy_postgresql(engine: Engine, total: int, coins: int) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        buffer = io.StringIO()
        for written, row in enumerate(rows(total, coins), start=1):
            buffer.write(
                "\t".join(
                    value.isoformat() if isinstance(value, datetime) else str(value)
                    for value in row
                )
                + "\n"
            )
            if written % CHUNK == 0:
                buffer.seek(0)
                cursor.copy_expert("COPY records FROM STDIN", buffer)
                buffer = io.StringIO()
        buffer.seek(0)
        cursor.copy_expert("COPY records FROM STDIN", buffer)
        raw.commit()
    finally:
        raw.close()


def _insert_sqlite(engine: Engine, total: int, coins: int) -> None:
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        stamp = "%Y-%m-%d %H:%M:%S.%f"
        converted = (
            tuple(
                value.astimezone(UTC).strftime(stamp) if isinstance(value, datetime) else value
                for value in row
            )
            for row in rows(total, coins)
        )
        driver.executemany(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", converted
        )
        driver.commit()
    finally:
        raw.close()


def seed(url: str, total: int, coins: int) -> None:
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            existing = conn.execute(select(func.count()).select_from(records)).scalar_one()
        if existing == total:
            print(f"{url}: already holds {total:,} records")
            return
        started = time.perf_counter()
        now = datetime.now(UTC)
        with engine.begin() as conn:
            for table in (
                latest_records,
                records,
                asset_aliases,
                assets,
                etl_run_sources,
                etl_runs,
            ):
                conn.execute(table.delete())
            conn.execute(
                insert(assets),
                [
                    {
                        "id": f"synthetic-coin-{i}",
                        "symbol": f"SYN{i:04d}",
                        "name": f"Synthetic Coin {i:04d}",
                        "created_at": now,
                    }
                    for i in range(coins)
                ],
            )
            conn.execute(
                insert(asset_aliases),
                [
                    {
                        "source": source,
                        "record_id": record_id(source, i),
                        "asset_id": f"synthetic-coin-{i}",
                        "method": "seed",
                        "created_at": now,
                    }
                    for i in range(coins)
                    for source in SOURCES
                ],
            )
            conn.execute(
                insert(etl_runs),
                [
                    {
                        "id": 1,
                        "status": "success",
                        "trigger": "manual",
                        "started_at": now,
                        "finished_at": now,
                    }
                ],
            )
            conn.execute(
                insert(etl_run_sources),
                [
                    {
                        "run_id": 1,
                        "source": source,
                        "status": "success",
                        "started_at": now,
                        "finished_at": now,
                        "rows_read": total // 4,
                        "inserted": total // 4,
                        "updated": 0,
                        "unchanged": 0,
                        "skipped": 0,
                        "rejected": 0,
                    }
                    for source in SOURCES
                ],
            )
            for index in records.indexes:
                index.drop(conn)
            latest.bump(conn)  # latest_records emptied: a running server must read again
        if engine.dialect.name == "postgresql":
            _copy_postgresql(engine, total, coins)
        else:
            _insert_sqlite(engine, total, coins)
        with engine.begin() as conn:
            for index in records.indexes:
                index.create(conn)
            latest.fill(conn)  # last: it moves the counter, whose lock lasts until COMMIT
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE records, latest_records, assets, asset_aliases")
            else:
                conn.exec_driver_sql("ANALYZE")
        print(f"{url}: seeded {total:,} records in {time.perf_counter() - started:.1f} s")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--coins", type=int, default=1000)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    seed(args.database_url, args.rows, args.coins)


if __name__ == "__main__":
    main()
