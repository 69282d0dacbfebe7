"""Rejects are bounded: at most ETL_MAX_REJECTS_STORED per source and run are stored, the rest
counted and said so in the run's record; each run deletes rejects older than
REJECTS_RETENTION_DAYS (issue 13, item 15)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kasparro.db import load, runs
from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config, query, write
from tests.support.upstream import MARKETS, FakeUpstream, json_reply


def unusable(count: int, size: int) -> str:
    """``count`` items without a price, each with a name of ``size`` characters."""
    return json.dumps(
        [{"id": f"coin-{n}", "symbol": "X", "name": "n" * size} for n in range(count)]
    )


def test_rejects_past_the_cap_are_counted_not_stored(
    engine: Engine, upstream: FakeUpstream
) -> None:
    upstream.serve(MARKETS, json_reply(unusable(3000, 1000)))
    config = make_config(upstream, max_rejects_stored=100, max_reject_ratio=1.0)
    summary = run_etl(engine, config, sources=["coingecko"], retry=FAST)
    gecko = by_source(summary)["coingecko"]
    note = "2,900 of 3,000 rejects not stored (ETL_MAX_REJECTS_STORED keeps the first 100 per "
    note += "source and run)"
    assert (gecko.status, gecko.rows_read, gecko.rejected, gecko.note) == (
        "success",
        3000,
        3000,
        note,
    )
    stored = query(engine, "SELECT locator FROM rejects ORDER BY id")
    assert [r.locator for r in stored] == [f"page 1 item {n}" for n in range(100)]
    [record] = query(engine, "SELECT rejected, note FROM etl_run_sources")
    assert (record.rejected, record.note) == (3000, note)


@pytest.mark.slow
def test_the_default_cap_bounds_the_reject_text_of_a_run(
    engine: Engine, upstream: FakeUpstream
) -> None:
    """The issue's case: a 50 MB response of unusable items stored 5,000 rejects of 20 million
    characters; now 100 of at most 4,000 characters of raw text each, and its length."""
    upstream.serve(MARKETS, json_reply(unusable(5000, 10_000)))
    # The body limit would refuse the 50 MB page before a reject is made; raise it here.
    config = make_config(upstream, http_max_body_bytes=64 * 2**20)
    gecko = by_source(run_etl(engine, config, sources=["coingecko"], retry=FAST))
    assert (gecko["coingecko"].status, gecko["coingecko"].rejected) == ("failed", 5000)
    [size] = query(
        engine,
        "SELECT count(*) AS n, sum(length(raw)) AS raw, max(length(reason)) AS reason FROM rejects",
    )
    assert size.n == 100
    assert size.reason <= 1000
    for row in query(engine, "SELECT raw FROM rejects"):  # 4,000 characters, then the length
        assert re.fullmatch(r" \[… 10,0\d\d characters in all\]", row.raw[4000:]), row.raw[-60:]


def test_each_run_prunes_rejects_older_than_the_retention(engine: Engine, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        old_run = runs.start_run(conn, "manual", now - timedelta(days=40))
        for days in (31, 29):
            load.insert_rejects(
                conn, old_run, "csv", [(f"line {days}", "r", "raw")], now - timedelta(days=days)
            )
    header_only = write(tmp_path / "empty.csv", "symbol,name,price_usd,timestamp\n")
    kept = make_config(csv_path=header_only, rejects_retention_days=0)
    run_etl(engine, kept, sources=["csv"], retry=FAST)
    assert len(query(engine, "SELECT id FROM rejects")) == 2
    run_etl(engine, make_config(csv_path=header_only), sources=["csv"], retry=FAST)
    assert [r.locator for r in query(engine, "SELECT locator FROM rejects")] == ["line 29"]
