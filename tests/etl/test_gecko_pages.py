"""CoinGecko paging (COINGECKO_PAGES) when a later page fails or comes late.

- A page k > 1 that cannot be fetched (after its retries), or a stop while fetching it,
  must not lose pages 1..k-1: they are loaded and the source ends ``failed`` with an error
  naming the page.
- ETL_MAX_FUTURE_SECONDS is judged against the clock when an item is validated, not when
  the source started: a fresh item on a page that arrives late is not "in the future".
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config, query
from tests.support.upstream import (
    GECKO,
    MARKETS,
    FakeUpstream,
    Reply,
    enlarged,
    json_reply,
    server_error,
    slow,
)

PER_PAGE = 250


def items(count: int) -> list[dict[str, Any]]:
    """``count`` distinct recorded CoinGecko items (copies get ids of their own)."""
    every: list[dict[str, Any]] = json.loads(enlarged(GECKO, 10).body)
    return every[:count]


def page_reply(page: list[dict[str, Any]]) -> Reply:
    return json_reply(json.dumps(page))


def serve_pages(upstream: FakeUpstream, pages: list[list[dict[str, Any]]]) -> None:
    for number, page in enumerate(pages, 1):
        key = MARKETS if number == 1 else f"{MARKETS}?page={number}"
        upstream.serve(key, page_reply(page))


def stamped(page: list[dict[str, Any]], moment: datetime) -> list[dict[str, Any]]:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [{**item, "last_updated": text} for item in page]


def test_a_page_that_fails_keeps_the_pages_before_it(
    engine: Engine, upstream: FakeUpstream
) -> None:
    every = items(3 * PER_PAGE)
    serve_pages(upstream, [every[:PER_PAGE], every[PER_PAGE : 2 * PER_PAGE]])
    upstream.serve(f"{MARKETS}?page=3", server_error(502))
    config = make_config(upstream, coingecko_pages=3, batch_size=5000)
    summary = run_etl(engine, config, sources=["coingecko", "csv"], retry=FAST)

    gecko = by_source(summary)["coingecko"]
    assert summary.status == "partial"
    assert (gecko.status, gecko.rows_read, gecko.inserted, gecko.rejected) == (
        "failed",
        500,
        500,
        0,
    )
    assert gecko.error == (
        f"page 3: GET {upstream.coingecko_url}/coins/markets after 4 attempts: HTTP 502: "
        "internal error; pages 1-2 were read and loaded"
    )
    assert len(upstream.hits(MARKETS)) == 2 + 4
    stored = query(engine, "SELECT record_id FROM records WHERE source = 'coingecko'")
    assert sorted(row.record_id for row in stored) == sorted(i["id"] for i in every[:500])
    (row,) = query(engine, "SELECT * FROM etl_run_sources WHERE source = 'coingecko'")
    assert (row.status, row.rows_read, row.inserted, row.error) == (
        "failed",
        500,
        500,
        gecko.error,
    )
    assert by_source(summary)["csv"].status == "success"

    # The next run, with every page there, loads page 3 and finds pages 1-2 unchanged.
    serve_pages(upstream, [every[:PER_PAGE], every[PER_PAGE:500], every[500:]])
    again = by_source(run_etl(engine, config, sources=["coingecko"], retry=FAST))["coingecko"]
    assert (again.status, again.inserted, again.unchanged) == ("success", 250, 500)


def test_a_first_page_that_fails_names_the_page(engine: Engine, upstream: FakeUpstream) -> None:
    upstream.serve(MARKETS, server_error(503))
    config = make_config(upstream, coingecko_pages=3)
    gecko = by_source(run_etl(engine, config, sources=["coingecko"], retry=FAST))["coingecko"]
    assert (gecko.status, gecko.rows_read) == ("failed", 0)
    assert gecko.error is not None
    assert gecko.error.startswith("page 1: GET ")
    assert gecko.error.endswith("after 4 attempts: HTTP 503: internal error")


def test_a_stop_while_fetching_a_page_keeps_the_pages_before_it(
    engine: Engine, upstream: FakeUpstream
) -> None:
    every = items(2 * PER_PAGE)
    upstream.serve(MARKETS, page_reply(every[:PER_PAGE]))
    upstream.serve(f"{MARKETS}?page=2", slow(30.0, page_reply(every[PER_PAGE:])))
    config = make_config(upstream, coingecko_pages=2, http_timeout_seconds=60.0)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    summary = run_etl(engine, config, sources=["coingecko"], retry=FAST, stop=stop)
    gecko = by_source(summary)["coingecko"]
    assert (summary.status, summary.error) == ("failed", "stopped")
    assert (gecko.status, gecko.rows_read, gecko.inserted) == ("failed", 250, 250)
    assert gecko.error is not None and gecko.error.startswith("stopped: ")
    assert query(engine, "SELECT count(*) AS n FROM records")[0].n == 250


@pytest.mark.slow
def test_fresh_items_on_a_late_page_are_judged_by_the_clock_when_they_arrive(
    engine: Engine, upstream: FakeUpstream
) -> None:
    """ETL_MAX_FUTURE_SECONDS=1, page 2 answered 3 s after it is asked: its items stamped
    2.5 s after the test began are fresh when they arrive (0.5 s in the past), though 1.5 s
    past the source's start plus the skew (before: all rejected as future); an item stamped
    a minute ahead is still a reject."""
    every = items(2 * PER_PAGE)
    began = datetime.now(UTC)
    late = stamped(every[PER_PAGE:], began + timedelta(seconds=2.5))
    late[-1]["last_updated"] = (began + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    upstream.serve(MARKETS, page_reply(every[:PER_PAGE]))
    upstream.serve(f"{MARKETS}?page=2", slow(3.0, page_reply(late)))
    config = make_config(upstream, coingecko_pages=2, max_future_seconds=1)
    gecko = by_source(run_etl(engine, config, sources=["coingecko"], retry=FAST))["coingecko"]
    assert (gecko.status, gecko.rows_read, gecko.inserted, gecko.rejected) == (
        "success",
        500,
        499,
        1,
    )
    (reject,) = query(engine, "SELECT locator, reason FROM rejects")
    assert reject.locator == "page 2 item 249"
    assert "is in the future by more than the 1 s of clock skew allowed" in reject.reason
