"""What the request statement bounds cost: the same reads with and without ``Timeouts``.

    python bench/bench_statement_bound.py [--backend sqlite postgresql] [--rows 100000]
                                          [--rounds 30]

Requests' engines bound each statement (``db.engine.Timeouts``: PostgreSQL
``statement_timeout`` / ``lock_timeout`` as startup options, nothing per statement; SQLite a
progress handler called every 1000 virtual machine steps, and a deadline set before each
statement). For each backend a store of ``--rows`` records is seeded (bench/seed_store.py;
SQLite in ``bench/out/``, PostgreSQL ``kasparro_bench_bound``, dropped and created), then
two engines on it, one with the request bounds and one without, alternate round by round:
each round times a page of 100 and of 1000 records newest first (``db.queries.records``,
what ``/data`` runs) and a ``count(*)`` over all records (what ``totalCount`` runs), in one
connection. Prints the median seconds per read and the ratio bounded / unbounded.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from kasparro.db import queries
from kasparro.db.engine import Timeouts, create_db_engine
from kasparro.db.queries import RecordFilters
from kasparro.db.tables import records

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "kasparro_bench_bound"
REQUEST_BOUNDS = Timeouts(statement=10.0, lock=3.0)  # the defaults


def _reads() -> dict[str, Callable[[Connection], object]]:
    wanted = RecordFilters()
    return {
        "page of 100": lambda conn: queries.records(conn, wanted, None, 100, "desc"),
        "page of 1000": lambda conn: queries.records(conn, wanted, None, 1000, "desc"),
        "count(*)": lambda conn: conn.execute(select(func.count()).select_from(records)).one(),
    }


def _store(backend: str, rows: int) -> str:
    if backend == "sqlite":
        OUT.mkdir(exist_ok=True)
        path = OUT / f"bound_{rows}.db"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        admin = create_db_engine(PG_ADMIN)
        with admin.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
            conn.exec_driver_sql(f"CREATE DATABASE {PG_DATABASE}")
        admin.dispose()
        url = f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"
    seed = [sys.executable, str(HERE / "seed_store.py"), "--rows", str(rows)]
    subprocess.run([*seed, "--database-url", url], check=True)
    return url


def _time(engine: Engine, read: Callable[[Connection], object]) -> float:
    with engine.connect() as conn:
        started = time.perf_counter()
        read(conn)
        return time.perf_counter() - started


def measure(url: str, rounds: int) -> dict[str, tuple[float, float]]:
    """Median seconds per read: (unbounded, bounded)."""
    plain = create_db_engine(url)
    bounded = create_db_engine(url, timeouts=REQUEST_BOUNDS)
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in _reads()}
    try:
        for read in _reads().values():  # warm both pools and caches
            _time(plain, read)
            _time(bounded, read)
        for round_ in range(rounds):
            for name, read in _reads().items():
                pair = (plain, bounded) if round_ % 2 else (bounded, plain)
                for engine in pair:
                    times[name][engine is bounded].append(_time(engine, read))
    finally:
        plain.dispose()
        bounded.dispose()
    return {
        name: (statistics.median(without), statistics.median(with_))
        for name, (without, with_) in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print("| backend | read | unbounded ms | bounded ms | ratio |")
    print("|---|---|---|---|---|")
    for backend in args.backend:
        results = measure(_store(backend, args.rows), args.rounds)
        for name, (without, with_) in results.items():
            print(
                f"| {backend} | {name} | {without * 1000:.2f} | {with_ * 1000:.2f} "
                f"| {with_ / without:.3f} |"
            )


if __name__ == "__main__":
    main()
