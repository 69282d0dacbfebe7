"""EXPLAIN ANALYZE the read paths of db.queries on a seeded PostgreSQL store, per index variant.

    python bench/seed_store.py --rows 1000000 --database-url postgresql://…/kasparro_bench
    python bench/explain_reads.py postgresql://…/kasparro_bench [variant …]

The statements are captured from the real ``db.queries`` functions (records pages with each
filter, forward and backward (Relay's ``last``/``before``), the probe behind a cursor that
``hasPreviousPage`` makes, counts, and latest prices, which read ``latest_records``
joined to the aliases and assets, not ``records``). Each variant changes the indexes inside
a transaction that is rolled back, so the store is left as it was. For each statement: the
median execution time of 5 runs in ms and the top of the plan. Used to decide the indexes
of ``records`` (BENCHMARKS.md, "Ingest").
"""

from __future__ import annotations

import re
import statistics
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, event

from kasparro.db import queries as q
from kasparro.db.engine import create_db_engine

F = q.RecordFilters
CURSOR = datetime(2026, 10, 28, tzinfo=UTC)
CASES: dict[str, Callable[[Connection], object]] = {
    "page, no filter": lambda c: q.records(c, F(), None, 100),
    "page, source=csv2": lambda c: q.records(c, F(sources=("csv2",)), None, 100),
    "page, asset": lambda c: q.records(c, F(asset_ids=("synthetic-coin-5",)), None, 100),
    "page, symbol": lambda c: q.records(c, F(symbols=("SYN0005",)), None, 100),
    "page, symbol, after a cursor": lambda c: q.records(
        c,
        F(symbols=("SYN0005",)),
        q.Keyset(datetime(2026, 10, 28, tzinfo=UTC), "csv", "SYN0005"),
        100,
    ),
    "page backward, no filter (last 100)": lambda c: q.records(c, F(), None, 100, from_end=True),
    "page backward, before a cursor": lambda c: q.records(
        c, F(), None, 100, before=q.Keyset(CURSOR, "csv", "SYN0005"), from_end=True
    ),
    "page backward, symbol, before a cursor": lambda c: q.records(
        c,
        F(symbols=("SYN0005",)),
        None,
        100,
        before=q.Keyset(CURSOR, "csv", "SYN0005"),
        from_end=True,
    ),
    "page backward, asc order, before a cursor": lambda c: q.records(
        c, F(), None, 100, "asc", before=q.Keyset(CURSOR, "csv", "SYN0005"), from_end=True
    ),
    "probe behind a cursor (hasPreviousPage)": lambda c: q.records(
        c, F(symbols=("SYN0005",)), q.Keyset(CURSOR, "csv", "SYN0005"), 100, look_beyond=True
    ),
    "page, recordId only": lambda c: q.records(c, F(record_ids=("synthetic-coin-5",)), None, 100),
    "page, recordId + the 4 sources": lambda c: q.records(
        c,
        F(
            sources=("coinpaprika", "coingecko", "csv", "csv2"),
            record_ids=("synthetic-coin-5",),
        ),
        None,
        100,
    ),
    "page, since/until": lambda c: q.records(
        c,
        F(since=datetime(2026, 10, 28, tzinfo=UTC), until=datetime(2026, 10, 29, tzinfo=UTC)),
        None,
        100,
    ),
    "count, source=csv2": lambda c: q.count_records(c, F(sources=("csv2",))),
    "count, asset": lambda c: q.count_records(c, F(asset_ids=("synthetic-coin-5",))),
    "latest_prices, all assets": lambda c: q.latest_prices(c),
}
VARIANTS = {
    "as built": [],
    "without ix_records_source_time": ["DROP INDEX ix_records_source_time"],
    "symbol index (symbol, timestamp) as in 0001": [
        "DROP INDEX ix_records_symbol_time",
        "CREATE INDEX ix_records_symbol_time ON records (symbol, timestamp)",
    ],
    "plus (record_id, timestamp, source)": [
        "CREATE INDEX ix_records_record_time ON records (record_id, timestamp, source)"
    ],
}


def capture(url: str) -> dict[str, tuple[str, Any]]:
    """The SQL and parameters each case sends."""
    engine = create_db_engine(url)
    sent: list[tuple[str, Any]] = []

    def grab(*args: Any) -> None:
        sent.append((args[2], args[3]))

    event.listen(engine, "before_cursor_execute", grab)
    statements = {}
    try:
        with engine.connect() as conn:
            for name, case in CASES.items():
                case(conn)
                statements[name] = sent[-1]
    finally:
        engine.dispose()
    return statements


def explain(url: str, variant: str, statements: dict[str, tuple[str, Any]]) -> None:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cursor = raw.cursor()
            for ddl in VARIANTS[variant]:
                cursor.execute(ddl)
            cursor.execute("ANALYZE records, latest_records, asset_aliases, assets")
            print(f"\n{variant}\n\n| statement | median ms | plan |\n|---|---|---|")
            for name, (sql, params) in statements.items():
                times, plan = [], []
                for _ in range(5):
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    plan = [row[0] for row in cursor.fetchall()]
                    found = re.search(r"Execution Time: ([\d.]+)", plan[-1])
                    assert found is not None
                    times.append(float(found.group(1)))
                nodes = [
                    re.sub(r"\s+\(cost=[^)]*\)", "", line.strip().lstrip("-> "))
                    for line in plan
                    if re.search(r"Scan|Sort \(|Nested|Hash Join|Aggregate", line)
                ]
                print(f"| {name} | {statistics.median(times):.2f} | {' / '.join(nodes[:3])} |")
            raw.rollback()
    finally:
        engine.dispose()


def main() -> None:
    url, wanted = sys.argv[1], sys.argv[2:] or list(VARIANTS)
    statements = capture(url)
    for variant in wanted:
        explain(url, variant, statements)


if __name__ == "__main__":
    main()
