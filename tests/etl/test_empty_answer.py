"""An API source whose answer holds no items at all fails: an upstream that answers ``[]``
(HTTP 200) is down, not empty, and must not show as a green run with 0 rows. A CoinGecko
page after the first that is empty only ends the paging."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config, query
from tests.etl.test_gecko_pages import PER_PAGE, items, serve_pages
from tests.support.upstream import MARKETS, TICKERS, FakeUpstream, json_reply


@pytest.mark.parametrize(("source", "path"), [("coinpaprika", TICKERS), ("coingecko", MARKETS)])
def test_an_api_answering_an_empty_array_fails_and_the_other_sources_run(
    engine: Engine, upstream: FakeUpstream, source: str, path: str
) -> None:
    upstream.serve(path, json_reply(" [ ]\n"))
    config = make_config(upstream, coingecko_pages=3)
    summary = run_etl(engine, config, sources=[source, "csv"], retry=FAST)

    failed = by_source(summary)[source]
    error = f"{source} answered no items: the response was an empty JSON array"
    assert (failed.status, failed.error) == ("failed", error)
    assert (failed.rows_read, failed.inserted, failed.rejected) == (0, 0, 0)
    assert summary.status == "partial"
    assert by_source(summary)["csv"].status == "success"
    assert len(upstream.hits(path)) == 1  # an empty first page is short: paging stops
    (row,) = query(engine, f"SELECT status, error FROM etl_run_sources WHERE source = '{source}'")
    assert (row.status, row.error) == ("failed", error)


def test_an_empty_coingecko_page_after_a_full_one_only_ends_the_paging(
    engine: Engine, upstream: FakeUpstream
) -> None:
    serve_pages(upstream, [items(PER_PAGE), []])
    config = make_config(upstream, coingecko_pages=3)
    gecko = by_source(run_etl(engine, config, sources=["coingecko"], retry=FAST))["coingecko"]
    assert (gecko.status, gecko.error, gecko.inserted) == ("success", None, PER_PAGE)
    assert len(upstream.hits(MARKETS)) == 2
