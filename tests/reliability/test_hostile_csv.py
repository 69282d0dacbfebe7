"""Hostile CSV input: every file of the corpus (``csv_corpus``) through a real ETL run.

No case may crash the run. A wrong header fails the source with a schema-drift message that
lists the expected and the found columns; anything else ends ``success`` with every bad row
in ``rejects`` (its line, its reason, its raw text) and every good row loaded, by exact count.
The files are small and some are mostly bad rows, which by default would fail the source as
likely drift (ETL_MAX_REJECT_RATIO, tested in ``tests/etl/test_schema_drift.py``); here the
ratio is 1, so each case shows the row-by-row outcome.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from kasparro.db import runs
from kasparro.db.outcomes import COUNTERS, RunStatus
from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config, query
from tests.reliability.csv_corpus import Case, Shape, corpus
from tests.reliability.figures import report

CASES = corpus()


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest) -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    yield seen
    if seen:
        rejected = sum(o["rejected"] for o in seen)
        failed = sum(o["status"] == "failed" for o in seen)
        seconds = sum(o["seconds"] for o in seen)
        summary = (
            f"{len(seen)} files, {failed} failed on their header, {rejected} rows rejected, "
            f"{sum(o['inserted'] for o in seen)} loaded, {seconds:.1f} s in the ETL"
        )
        report(request.config, "hostile-csv", summary, seen)


def test_the_corpus_is_large_enough() -> None:
    names = {case.name for _, case in CASES}
    assert len(names) >= 30, names
    assert len(CASES) == 2 * len(names)  # every case in both layouts


@pytest.mark.parametrize(("shape", "case"), CASES, ids=[f"{s.source}-{c.name}" for s, c in CASES])
@pytest.mark.slow
def test_hostile_csv_file(
    engine: Engine,
    tmp_path: Path,
    shape: Shape,
    case: Case,
    outcomes: list[dict[str, Any]],
) -> None:
    path = tmp_path / f"{case.name}.csv"
    path.write_bytes(case.content)
    key = "csv_path" if shape.source == "csv" else "csv2_path"
    config = make_config(upstream=None, **{key: path}, max_reject_ratio=1.0)
    clock = time.monotonic()
    summary = run_etl(engine, config, sources=[shape.source], retry=FAST)
    seconds = time.monotonic() - clock
    result = by_source(summary)[shape.source]
    want = case.expected
    outcomes.append(
        {
            "case": f"{shape.source}-{case.name}",
            "bytes": len(case.content),
            "status": result.status,
            "read": result.rows_read,
            "inserted": result.inserted,
            "rejected": result.rejected,
            "seconds": round(seconds, 3),
        }
    )

    assert summary.status == want.status, result.error
    assert result.status == want.status
    for fragment in want.error:
        assert fragment in (result.error or ""), result.error
    if want.status == "failed":
        assert result.error and not result.error.startswith("internal error"), result.error
    else:
        assert result.error is None
    counts = (result.rows_read, result.inserted, result.updated, result.unchanged)
    assert counts == (want.read, want.inserted, want.updated, want.unchanged)
    assert result.rejected == len(want.rejects)

    stored = query(
        engine,
        "SELECT locator, reason, raw FROM rejects WHERE source = :s AND run_id = :r ORDER BY id",
        s=shape.source,
        r=summary.run_id,
    )
    assert [r.locator for r in stored] == [f"line {line}" for line, _ in want.rejects]
    for row, (_, fragment) in zip(stored, want.rejects, strict=True):
        assert fragment in row.reason, row.reason
        assert row.raw, row  # the raw text of the bad row is kept
    [total] = query(engine, "SELECT count(*) AS n FROM records WHERE source = :s", s=shape.source)
    assert total.n == want.inserted
    for record_id, name in case.stored.items():
        [found] = query(
            engine,
            "SELECT name FROM records WHERE source = :s AND record_id = :i",
            s=shape.source,
            i=record_id,
        )
        assert found.name == name
    [run] = query(
        engine, "SELECT status, error FROM etl_run_sources WHERE run_id = :r", r=summary.run_id
    )
    assert (run.status, run.error) == (result.status, result.error)

    again = by_source(run_etl(engine, config, sources=[shape.source], retry=FAST))[shape.source]
    assert again.inserted == 0  # idempotent: nothing new on a second run


def test_an_error_message_with_nul_is_stored(engine: Engine) -> None:
    """PostgreSQL text cannot hold NUL: a source error quoting raw input must still be stored
    (it once aborted the whole run with a ValueError on PostgreSQL)."""
    started = datetime.now(UTC)
    with engine.begin() as conn:
        run_id = runs.start_run(conn, "manual", started)
        runs.start_source(conn, run_id, "csv", started, None)
        counters = dict.fromkeys(COUNTERS, 0)
        runs.update_source(conn, run_id, "csv", counters, checkpoint=None, error="a\x00b")
        runs.finish_run(conn, run_id, RunStatus.FAILED, started, "c\x00d")
    [stored] = query(
        engine,
        "SELECT r.error AS run, s.error AS source FROM etl_runs r "
        "JOIN etl_run_sources s ON s.run_id = r.id",
    )
    assert (stored.run, stored.source) == ("c\ufffdd", "a\ufffdb")
