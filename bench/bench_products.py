"""Data products benchmark: candles, divergences and exports on a seeded store.

    python bench/bench_products.py --database-url URL --part candles|divergences|export
                                   [--rows 1000000] [--coins N] [--runs 30]

The store is seeded by bench/seed_store.py (``--rows`` records over ``--coins`` assets x 4
sources, hourly going back from 2026-11-01; kept when it already holds that many rows).

- ``candles`` (seed with few coins, so an asset has years of hourly rows): the query of
  ``candles(symbol: "SYN0000", interval: DAY_1)`` over the last year, p50 and p99 of
  ``--runs`` calls on one connection; then HOUR_1 over all history (first 1000 buckets, the
  most one answer holds) and over 1/4 and 1/2 of it, to show how the cost grows.
- ``divergences`` (seed with 1000 coins): ``divergences(minSpreadPct: 1, first: 100)`` as
  the resolver computes it, from the app's prices cache: after a change (the cache reads
  all latest prices) and unchanged (the kept prices, consensus computed again).
- ``export``: ``kasparro export --format csv`` of every record to /dev/null (the server's
  code path without HTTP: keyset batches of EXPORT_BATCH_ROWS), rows/s and the peak RSS of
  the process, against PostgreSQL's ``COPY (SELECT … ORDER BY …) TO STDOUT`` through psql,
  or ``sqlite3 -csv`` of the same query, both to /dev/null.

Prints one Markdown table row per figure.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.engine import make_url

from kasparro.db import latest
from kasparro.db.candles import INTERVALS, candles
from kasparro.db.engine import create_db_engine
from kasparro.db.latest_cache import PricesCache
from kasparro.db.migrate import upgrade
from kasparro.db.queries import RecordFilters
from kasparro.db.tables import assets, latest_records, records
from kasparro.gql.config import AppConfig
from kasparro.gql.products import consensus_rules, read_divergences

HERE = Path(__file__).resolve().parent
COLUMNS = "source, record_id, value, timestamp, asset_id, symbol, name, market_cap, volume_24h"
ORDER = "ORDER BY timestamp DESC, source DESC, record_id DESC"


def timed(runs: int, call: Callable[[], object]) -> tuple[float, float]:
    """p50 and p99 in milliseconds of ``runs`` calls (after one warm-up call)."""
    call()
    spent = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        spent.append((time.perf_counter() - started) * 1000)
    spent.sort()
    return statistics.median(spent), spent[min(len(spent) - 1, int(len(spent) * 0.99))]


def row(backend: str, rows: int, what: str, figure: str, note: str = "") -> None:
    print(f"| {backend} | {rows:,} | {what} | {figure} | {note} |", flush=True)


def bench_candles(engine: Engine, backend: str, rows: int, runs: int) -> None:
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(records.c.timestamp))).scalar_one()
        oldest = conn.execute(select(func.min(records.c.timestamp))).scalar_one()
        year = RecordFilters(symbols=("SYN0000",), since=newest - timedelta(days=365))
        answer = candles(conn, year, INTERVALS["DAY_1"], 500)
        p50, p99 = timed(runs, lambda: candles(conn, year, INTERVALS["DAY_1"], 500))
        samples = sum(candle.samples for candle in answer)
        row(
            backend,
            rows,
            "candles DAY_1, one year",
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
            f"{len(answer)} candles of {samples:,} records",
        )
        span = newest - oldest
        for share in (4, 2, 1):
            wanted = RecordFilters(symbols=("SYN0000",), since=newest - span / share)
            answer = candles(conn, wanted, INTERVALS["HOUR_1"], 1000)
            hourly = functools.partial(candles, conn, wanted, INTERVALS["HOUR_1"], 1000)
            p50, _ = timed(max(3, runs // 5), hourly)
            scanned = conn.execute(
                select(func.count())
                .select_from(records)
                .where(records.c.symbol == "SYN0000", records.c.timestamp >= wanted.since)
            ).scalar_one()
            row(
                backend,
                rows,
                f"candles HOUR_1, 1/{share} of history",
                f"p50 {p50:.1f} ms",
                f"{scanned:,} records scanned, {len(answer)} candles answered",
            )


def bench_divergences(engine: Engine, backend: str, rows: int, runs: int) -> None:
    rules = consensus_rules(AppConfig())
    cache = PricesCache()

    def divergences() -> list[object]:
        with engine.connect() as conn:  # as the server does: a pooled connection per call
            return list(read_divergences(conn, cache, rules, 1.0, 100))

    def after_change() -> object:
        with engine.begin() as conn:
            latest.bump(conn)
        return divergences()

    answer = divergences()
    p50, p99 = timed(runs, after_change)
    row(
        backend,
        rows,
        "divergences, after a change",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        f"reads 1000 assets x 4 sources; {len(answer)} answered",
    )
    p50, p99 = timed(runs, divergences)
    row(
        backend,
        rows,
        "divergences, store unchanged",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        "kept prices, consensus computed again",
    )


def _child(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of ``command`` with stdout to /dev/null."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        subprocess.run(command, stdout=sink, check=True, env=env)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def bench_export(url: str, backend: str, rows: int) -> None:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    export = [sys.executable, "-m", "kasparro.cli", "export", "--format", "csv"]
    seconds, peak = _child(export, env)
    ours = rows / seconds
    row(
        backend,
        rows,
        "kasparro export csv",
        f"{ours:,.0f} rows/s ({seconds:.1f} s)",
        f"peak RSS {peak:.0f} MiB",
    )
    query = f"SELECT {COLUMNS} FROM records {ORDER}"
    if backend == "postgresql":
        parts = make_url(url)
        command = [
            "psql",
            "-h",
            str(parts.host),
            "-p",
            str(parts.port or 5432),
            "-U",
            str(parts.username),
            "-d",
            str(parts.database),
            "-Atc",
            f"COPY ({query}) TO STDOUT WITH CSV HEADER",
        ]
        name = "psql COPY (SELECT … ORDER BY key) TO STDOUT"
    else:
        command = ["sqlite3", "-csv", "-header", str(make_url(url).database), query]
        name = "sqlite3 -csv (same query)"
    seconds, _ = _child(command)
    theirs = rows / seconds
    row(
        backend,
        rows,
        name,
        f"{theirs:,.0f} rows/s ({seconds:.1f} s)",
        f"ours = {ours / theirs:.2f}x",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--part", choices=("candles", "divergences", "export"), required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--coins", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    engine = create_db_engine(args.database_url)
    upgrade(engine)
    with engine.begin() as conn:  # seed_store keeps a store of as many rows: check coins
        if conn.execute(select(func.count()).select_from(assets)).scalar_one() != args.coins:
            conn.execute(delete(latest_records))
            conn.execute(delete(records))
    seed = [sys.executable, str(HERE / "seed_store.py"), "--rows", str(args.rows)]
    seed += ["--coins", str(args.coins), "--database-url", args.database_url]
    subprocess.run(seed, check=True)
    backend = engine.dialect.name
    try:
        if args.part == "candles":
            bench_candles(engine, backend, args.rows, args.runs)
        elif args.part == "divergences":
            bench_divergences(engine, backend, args.rows, args.runs)
        else:
            bench_export(args.database_url, backend, args.rows)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
