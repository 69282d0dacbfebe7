"""What a CSV's bad rows may cost in memory: a bounded reject each (reason, an excerpt of at
most 4,000 characters with the row's whole length noted), only ETL_MAX_REJECTS_STORED of
them kept, the rest counted; and no row held whole past CSV_MAX_ROW_BYTES, however long its
line. Peak RSS is read from a real `kasparro etl` process (bench/bench_etl_memory.py
measures the issue's sizes: 1,000,000 bad rows, a 100 MB line)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.etl.conftest import query

HEADER = b"symbol,name,price_usd,market_cap,volume_24h,timestamp\n"
GOOD = b"BTC,Bitcoin,30000,1,1,2021-01-01T00:00:00Z\n"
MIB = 1 << 20
PROBE = (
    "import resource, sys\n"
    "from kasparro.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('peak-rss-kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def etl_peak_rss(database_url: str, csv: Path, **env: str) -> tuple[int, str]:
    """Run `kasparro etl --source csv` over ``csv``; its exit status and peak RSS (KiB)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "etl", "--source", "csv"],
        env={**os.environ, "DATABASE_URL": database_url, "CSV_PATH": str(csv), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    match = re.search(r"peak-rss-kib (\d+)", result.stderr)
    assert match, result.stderr
    return int(match.group(1)), result.stdout


def baseline_kib(database_url: str, tmp_path: Path) -> int:
    """Peak RSS of the same command over a file of one good row (run last in a test: it
    adds a run)."""
    small = tmp_path / "small.csv"
    small.write_bytes(HEADER + GOOD)
    return etl_peak_rss(database_url, small)[0]


def csv_row(out: str) -> list[str]:
    """The summary table's csv row: source, status, read, inserted, …"""
    return next(line.split() for line in out.splitlines() if line.startswith("csv "))


@pytest.mark.slow
def test_many_bad_rows_keep_only_the_stored_rejects_in_memory(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """300,000 bad rows of 1 KB (before: every reject kept in one chunk until a batch of
    good rows filled it: +377 MiB here)."""
    bad = b"BAD,Bad Coin," + b"x" * 1000 + b",1,1,2021-01-01T00:00:00Z\n"
    csv = tmp_path / "bad.csv"
    with csv.open("wb") as handle:
        handle.write(HEADER + GOOD)
        for _ in range(300):
            handle.write(bad * 1000)
    peak, out = etl_peak_rss(database_url, csv, ETL_MAX_REJECT_RATIO="1")
    assert csv_row(out)[:4] == ["csv", "success", "300001", "1"], out
    (source,) = query(engine, "SELECT rows_read, inserted, rejected, note FROM etl_run_sources")
    assert (source.rows_read, source.inserted, source.rejected) == (300_001, 1, 300_000)
    assert source.note.startswith("299,900 of 300,000 rejects not stored")
    rejects = query(engine, "SELECT locator, reason, raw FROM rejects ORDER BY id")
    assert [r.locator for r in rejects] == [f"line {n}" for n in range(3, 103)]
    assert rejects[0].reason.startswith("price_usd 'xxxx")
    assert rejects[0].raw == bad.decode().rstrip("\n")  # 1 KB: whole
    baseline = baseline_kib(database_url, tmp_path)
    assert peak - baseline < 40 * 1024, (peak, baseline)


@pytest.mark.slow
def test_a_64_mib_line_is_read_past_in_bounded_memory(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """A 64 MiB line without delimiters between good rows (before: the line, its text and
    their copies were all held at once; a 100 MiB line took +301 MiB, the benchmark)."""
    csv = tmp_path / "long-line.csv"
    with csv.open("wb") as handle:
        handle.write(HEADER + GOOD + b"E" * MIB)
        for _ in range(63):
            handle.write(b"x" * MIB)
        handle.write(b"\n" + GOOD.replace(b"BTC", b"ETH"))
    peak, out = etl_peak_rss(database_url, csv)
    assert csv_row(out)[:4] == ["csv", "success", "3", "2"], out
    (reject,) = query(engine, "SELECT locator, reason, raw FROM rejects")
    assert reject.locator == "line 3"
    assert reject.reason == (
        "row is longer than 1,048,576 bytes (67,108,865 bytes; CSV_MAX_ROW_BYTES)"
    )
    assert reject.raw == "E" * 4000 + " [… 67,108,865 bytes in all]"
    assert query(engine, "SELECT count(*) AS n FROM records")[0].n == 2
    baseline = baseline_kib(database_url, tmp_path)
    assert peak - baseline < 24 * 1024, (peak, baseline)


@pytest.mark.slow
def test_a_row_quoted_over_many_lines_is_bounded_too(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """A quoted name spanning 20,000 short lines, with CSV_MAX_ROW_BYTES at 64 KiB (and
    CSV_MAX_ROW_LINES past 20,000, so the bytes bound comes first): the row is cut at it
    and the reader starts afresh on the next line (so the rest of the quoted text becomes
    short rejected rows, as after any broken quote)."""
    csv = tmp_path / "quoted.csv"
    csv.write_bytes(HEADER + GOOD + b'BAD,"' + b"line\n" * 20_000 + b'",1,1,1,2021-01-01\n')
    _, out = etl_peak_rss(
        database_url,
        csv,
        CSV_MAX_ROW_BYTES="65536",
        CSV_MAX_ROW_LINES="100000",
        ETL_MAX_REJECT_RATIO="1",
    )
    assert csv_row(out)[:2] == ["csv", "success"], out
    first = query(engine, "SELECT locator, reason, raw FROM rejects ORDER BY id LIMIT 1")[0]
    assert first.locator == "line 3"
    assert re.fullmatch(
        r"row is longer than 65,536 bytes \(6\d,\d{3} bytes; CSV_MAX_ROW_BYTES\)", first.reason
    )
    assert first.raw.startswith('BAD,"line\nline\n')
    assert re.search(r" \[… 6\d,\d{3} bytes in all\]$", first.raw)
    (source,) = query(engine, "SELECT rows_read, inserted, rejected FROM etl_run_sources")
    assert source.inserted == 1
    assert source.rows_read == source.inserted + source.rejected


def test_the_excerpt_notes_the_length_of_what_it_cut() -> None:
    from kasparro.etl.reject_log import excerpt

    assert excerpt("short") == "short"
    assert excerpt("x" * 4000) == "x" * 4000
    assert excerpt("y" * 4001) == "y" * 4000 + " [… 4,001 characters in all]"
    assert excerpt("head", 10_000_000, "bytes") == "head [… 10,000,000 bytes in all]"
