"""Ingest benchmark: `kasparro etl` on a large data.csv-layout file, next to PostgreSQL COPY.

    python bench/bench_ingest.py [--rows 1000000] [--coins 1000] [--backend postgresql sqlite]
        [--pg-database kasparro_bench]

For each backend, on an empty database: a first run over the whole file (rows/s, peak RSS of
the process), a re-run over the unchanged file, and a re-run after appending 1,000 rows.
On PostgreSQL the reference is ``psql \\copy`` of the same file into a table with the same
primary key, timed in the same run. The "schema floor" is the database's own cost of the
stored rows with the real schema (``records``: 11 columns, primary key and four secondary
indexes): ``psql \\copy`` into an empty copy of ``records`` on PostgreSQL, one
``INSERT … SELECT`` from the loaded store into a fresh one on SQLite. Results are printed as
a Markdown table and written to bench/out/ingest.json. The CSV is synthetic
(bench/gen_csv.py): it measures speed, not markets.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "kasparro_bench"


@dataclass
class Timing:
    seconds: float
    peak_rss_mb: float
    exit_code: int


def timed(command: list[str], env: dict[str, str]) -> Timing:
    """Run ``command``; wall time and the child's own peak RSS (from wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 2):
        sys.stderr.write(stderr.decode(errors="replace")[-4000:])
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return Timing(round(elapsed, 3), round(usage.ru_maxrss / 1024, 1), process.returncode)


def psql(database: str, sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qc", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def fresh_postgresql(database: str) -> str:
    psql("postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    psql("postgres", f'CREATE DATABASE "{database}"')
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


def copy_reference(database: str, csv_path: Path) -> float:
    """Seconds for psql \\copy of the file into a table keyed like records."""
    psql(
        database,
        "DROP TABLE IF EXISTS copy_ref; CREATE TABLE copy_ref (symbol text, name text, "
        "price_usd double precision, market_cap double precision, volume_24h double precision, "
        '"timestamp" timestamptz, PRIMARY KEY (symbol, "timestamp"))',
    )
    start = time.perf_counter()
    psql(database, f"\\copy copy_ref FROM '{csv_path}' CSV HEADER")
    return round(time.perf_counter() - start, 3)


def records_copy_reference(database: str, workdir: Path) -> tuple[float, int]:
    """Seconds and rows for psql \\copy of the stored records into an empty copy of
    ``records`` (same primary key and secondary indexes): the schema's own floor."""
    dump = workdir / "records.csv"
    psql(database, f"\\copy records TO '{dump}' CSV")
    psql(
        database,
        "DROP TABLE IF EXISTS records_ref; CREATE TABLE records_ref (LIKE records INCLUDING ALL)",
    )
    start = time.perf_counter()
    psql(database, f"\\copy records_ref FROM '{dump}' CSV")
    seconds = round(time.perf_counter() - start, 3)
    with dump.open("rb") as handle:
        rows = sum(1 for _ in handle)
    dump.unlink()
    psql(database, "DROP TABLE records_ref")
    return seconds, rows


def sqlite_reference(database: Path, env: dict[str, str]) -> tuple[float, int]:
    """Seconds and rows for one ``INSERT … SELECT`` of the stored records into a freshly
    migrated store: SQLite's own cost for the schema, with no Python per row."""
    target = database.with_name("reference.db")
    migrate = [sys.executable, "-m", "kasparro.cli", "migrate"]
    subprocess.run(migrate, env={**env, "DATABASE_URL": f"sqlite:///{target}"}, check=True)
    connection = sqlite3.connect(target)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA cache_size=-65536")
        connection.execute("ATTACH DATABASE ? AS loaded", (str(database),))
        start = time.perf_counter()
        with connection:
            rows = connection.execute(
                "INSERT INTO main.records SELECT * FROM loaded.records"
            ).rowcount
        seconds = round(time.perf_counter() - start, 3)
    finally:
        connection.close()
    target.unlink()
    return seconds, rows


def run_backend(
    backend: str, csv_path: Path, rows: int, workdir: Path, database: str
) -> dict[str, object]:
    sqlite_url = f"sqlite:///{workdir / 'bench.db'}"
    url = fresh_postgresql(database) if backend == "postgresql" else sqlite_url
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ETL_SOURCES": "csv",
        "CSV_PATH": str(csv_path),
        "LOG_LEVEL": "WARNING",
    }
    kasparro = [sys.executable, "-m", "kasparro.cli", "etl"]
    subprocess.run([sys.executable, "-m", "kasparro.cli", "migrate"], env=env, check=True)
    first = timed(kasparro, env)
    unchanged = timed(kasparro, env)
    subprocess.run(
        [sys.executable, str(HERE / "gen_csv.py"), "--rows", "1000", "--append", str(csv_path)],
        check=True,
    )
    appended = timed(kasparro, env)
    result: dict[str, object] = {
        "backend": backend,
        "rows": rows,
        "first_run": asdict(first),
        "rows_per_second": round(rows / first.seconds),
        "unchanged_rerun": asdict(unchanged),
        "unchanged_ratio": round(unchanged.seconds / first.seconds, 4),
        "append_1000_rerun": asdict(appended),
        "append_ratio": round(appended.seconds / first.seconds, 4),
    }
    if backend == "postgresql":
        copy_seconds = copy_reference(database, csv_path)
        result["copy_seconds"] = copy_seconds
        result["copy_rows_per_second"] = round((rows + 1000) / copy_seconds)
        result["ratio_to_copy"] = round((rows / first.seconds) / ((rows + 1000) / copy_seconds), 3)
        floor_seconds, floor_rows = records_copy_reference(database, workdir)
    else:
        floor_seconds, floor_rows = sqlite_reference(workdir / "bench.db", env)
    result["schema_floor_seconds"] = floor_seconds
    result["schema_floor_rows_per_second"] = round(floor_rows / floor_seconds)
    result["ratio_to_schema_floor"] = round(
        (rows / first.seconds) / (floor_rows / floor_seconds), 3
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--coins", type=int, default=1000)
    parser.add_argument("--backend", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument(
        "--pg-database",
        default=PG_BENCH_DB,
        help="the PostgreSQL database to drop, create and load (default %(default)s)",
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="kasparro-bench-") as tmp:
        workdir = Path(tmp)
        for backend in args.backend:
            csv_path = workdir / f"prices_{backend}.csv"
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "gen_csv.py"),
                    "--rows",
                    str(args.rows),
                    "--coins",
                    str(args.coins),
                    "--output",
                    str(csv_path),
                ],
                check=True,
            )
            results.append(run_backend(backend, csv_path, args.rows, workdir, args.pg_database))
            csv_path.unlink()
    (OUT / "ingest.json").write_text(json.dumps(results, indent=2))
    print(
        "| backend | rows | first run s | rows/s | peak RSS MB | unchanged re-run s (ratio) "
        "| +1000 rows re-run s (ratio) | COPY s | COPY rows/s | ratio to COPY "
        "| schema floor rows/s | ratio to floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        first = r["first_run"]
        unchanged = r["unchanged_rerun"]
        appended = r["append_1000_rerun"]
        assert isinstance(first, dict) and isinstance(unchanged, dict)
        assert isinstance(appended, dict)
        print(
            f"| {r['backend']} | {r['rows']:,} | {first['seconds']} | {r['rows_per_second']:,} "
            f"| {first['peak_rss_mb']} | {unchanged['seconds']} ({r['unchanged_ratio']:.1%}) "
            f"| {appended['seconds']} ({r['append_ratio']:.1%}) | {r.get('copy_seconds', '-')} "
            f"| {r.get('copy_rows_per_second', '-')} | {r.get('ratio_to_copy', '-')} "
            f"| {r['schema_floor_rows_per_second']:,} | {r['ratio_to_schema_floor']} |"
        )


if __name__ == "__main__":
    main()
