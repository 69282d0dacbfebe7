"""The same coin twice in one API response: the first is kept, the others are rejects naming
where the kept one was (issue 13, item 14). A CSV file's repeated (symbol, timestamp) rows
stay corrections: the last one wins (tests/etl/test_fast_path.py)."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config, query, record
from tests.support.upstream import (
    GECKO,
    MARKETS,
    PAPRIKA,
    TICKERS,
    FakeUpstream,
    json_reply,
    sample,
)


def test_a_coin_twice_in_a_coingecko_page_keeps_the_first(
    engine: Engine, upstream: FakeUpstream
) -> None:
    items = json.loads(sample(GECKO))
    twin = {**items[0], "current_price": 1.0, "last_updated": "2025-05-20T05:14:00.000Z"}
    same = dict(items[5])
    upstream.serve(MARKETS, json_reply(json.dumps([*items[:50], twin, *items[50:], same])))
    summary = run_etl(engine, make_config(upstream), sources=["coingecko"], retry=FAST)
    gecko = by_source(summary)["coingecko"]
    assert (gecko.rows_read, gecko.inserted, gecko.updated, gecko.rejected) == (122, 120, 0, 2)
    [btc] = record(engine, "coingecko", "bitcoin")
    assert btc.value == 106111.0
    rejects = query(engine, "SELECT locator, reason, raw FROM rejects ORDER BY id")
    assert [(r.locator, r.reason) for r in rejects] == [
        ("page 1 item 50", "duplicate id 'bitcoin': the first one read (at page 1 item 0) is kept"),
        (
            "page 1 item 121",
            f"duplicate id {items[5]['id']!r}: the first one read (at page 1 item 5) is kept",
        ),
    ]
    assert json.loads(rejects[0].raw)["current_price"] == 1.0


def test_a_coin_again_on_a_later_page_keeps_the_first(
    engine: Engine, upstream: FakeUpstream
) -> None:
    items = json.loads(sample(GECKO))
    full = [dict(item, id=f"{item['id']}-{n}") for n in range(3) for item in items][:250]
    moved = {**full[249], "current_price": 7.0}  # moved down a page between two requests
    upstream.serve(MARKETS, json_reply(json.dumps(full)))
    upstream.serve(f"{MARKETS}?page=2", json_reply(json.dumps([moved])))
    config = make_config(upstream, coingecko_pages=2)
    gecko = by_source(run_etl(engine, config, sources=["coingecko"], retry=FAST))["coingecko"]
    assert (gecko.inserted, gecko.rejected) == (250, 1)
    [reject] = query(engine, "SELECT locator, reason FROM rejects")
    assert reject.locator == "page 2 item 0"
    assert reject.reason.endswith("the first one read (at page 1 item 249) is kept")


def test_a_ticker_twice_in_coinpaprika_keeps_the_first(
    engine: Engine, upstream: FakeUpstream
) -> None:
    tickers = json.loads(sample(PAPRIKA))[:100]
    twin = json.loads(json.dumps(tickers[10]))
    twin["quotes"]["USD"]["price"] = 0.5
    upstream.serve(TICKERS, json_reply(json.dumps([*tickers, twin])))
    summary = run_etl(engine, make_config(upstream), sources=["coinpaprika"], retry=FAST)
    paprika = by_source(summary)["coinpaprika"]
    assert (paprika.inserted, paprika.updated, paprika.rejected) == (100, 0, 1)
    [kept] = record(engine, "coinpaprika", tickers[10]["id"])
    assert kept.value == tickers[10]["quotes"]["USD"]["price"]
