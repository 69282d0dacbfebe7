"""CoinPaprika and CoinGecko through the fake upstream: normalization of recorded payloads,
symbol collisions, drifted and malformed payloads, and raw payload storage."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config, query, record
from tests.support.upstream import (
    GECKO,
    MARKETS,
    PAPRIKA,
    PAPRIKA_2019,
    TICKERS,
    FakeUpstream,
    forbidden,
    garbage,
    html,
    json_reply,
    sample,
    truncated,
)


@pytest.mark.slow
def test_coinpaprika_tickers_are_normalized(engine: Engine, upstream: FakeUpstream) -> None:
    summary = run_etl(engine, make_config(upstream), sources=["coinpaprika"], retry=FAST)
    paprika = by_source(summary)["coinpaprika"]
    assert (paprika.status, paprika.rows_read, paprika.inserted, paprika.rejected) == (
        "success",
        2500,
        2500,
        0,
    )
    [btc] = record(engine, "coinpaprika", "btc-bitcoin")
    assert (btc.asset_id, btc.symbol, btc.name) == ("bitcoin", "BTC", "Bitcoin")
    assert btc.value == 29427.918932650417
    assert (btc.market_cap, btc.volume_24h) == (572489440087.0, 17385954206.667908)
    assert btc.timestamp == datetime(2023, 8, 11, 8, 9, 18, tzinfo=UTC)
    assert paprika.checkpoint_after == datetime(2023, 8, 11, 8, 9, 33, tzinfo=UTC)
    [stat] = query(
        engine, "SELECT name FROM records WHERE record_id LIKE '%-stat' AND name = 'STAT'"
    )
    assert stat.name == "STAT"  # recorded as "STAT " with a trailing space


@pytest.mark.slow
def test_duplicated_coinpaprika_symbols_stay_separate_assets(
    engine: Engine, upstream: FakeUpstream
) -> None:
    run_etl(engine, make_config(upstream), sources=["coinpaprika"], retry=FAST)
    tickers = json.loads(sample(PAPRIKA))
    shared = Counter(t["symbol"].upper() for t in tickers)
    duplicated = {symbol for symbol, n in shared.items() if n > 1}
    assert len(duplicated) == 108
    rows = query(
        engine,
        "SELECT symbol, count(DISTINCT record_id) AS ids, count(DISTINCT asset_id) AS assets "
        "FROM records WHERE source = 'coinpaprika' GROUP BY symbol HAVING count(*) > 1",
    )
    assert {r.symbol for r in rows} == duplicated
    assert all(r.ids == r.assets for r in rows)
    core = query(engine, "SELECT id, name FROM assets WHERE symbol = 'CORE' ORDER BY id")
    assert len(core) == shared["CORE"] >= 2
    assert len({r.id for r in core}) == len(core)


@pytest.mark.slow
def test_coingecko_markets_unify_with_coinpaprika_and_keep_bridged_copies_apart(
    engine: Engine, upstream: FakeUpstream
) -> None:
    summary = run_etl(engine, make_config(upstream), sources=["coinpaprika", "coingecko"])
    gecko = by_source(summary)["coingecko"]
    assert (gecko.status, gecko.rows_read, gecko.inserted, gecko.rejected) == (
        "success",
        120,
        120,
        0,
    )
    [btc] = record(engine, "coingecko", "bitcoin")
    assert (btc.asset_id, btc.symbol, btc.value) == ("bitcoin", "BTC", 106111.0)
    assert btc.timestamp == datetime(2025, 5, 20, 5, 13, 30, 238000, tzinfo=UTC)
    assert (btc.market_cap, btc.volume_24h) == (2107950589556.0, 39932869882.0)
    usdt = query(
        engine,
        "SELECT record_id, asset_id FROM records WHERE source = 'coingecko' AND symbol = 'USDT' "
        "ORDER BY record_id",
    )
    assert [(r.record_id, r.asset_id) for r in usdt] == [
        ("polygon-bridged-usdt-polygon", "polygon-bridged-usdt-polygon"),
        ("tether", "tether"),
    ]
    # Not seeded: matched to CoinPaprika's asset by the <symbol>-<slug> id rule.
    [method] = query(
        engine,
        "SELECT a.asset_id, a.method FROM asset_aliases a "
        "WHERE a.source = 'coingecko' AND a.record_id = 'shiba-inu'",
    )
    [paprika] = query(
        engine, "SELECT asset_id FROM asset_aliases WHERE record_id = 'shib-shiba-inu'"
    )
    assert (method.asset_id, method.method) == (paprika.asset_id, "id-rule")


def test_drifted_items_are_rejected_one_by_one(engine: Engine, upstream: FakeUpstream) -> None:
    items = [
        {
            "id": "bitcoin",
            "symbol": "btc",
            "name": "Bitcoin",
            "current_price": 50000,
            "market_cap": 1,
            "total_volume": 2,
            "last_updated": "2024-01-01T00:00:00.000Z",
        },
        {
            "id": "ethereum",
            "symbol": "eth",
            "name": "Ethereum",
            "current_price": None,
            "last_updated": "2024-01-01T00:00:00.000Z",
        },
        {
            "id": "tether",
            "symbol": "usdt",
            "name": "Tether",
            "current_price": "1.0",
            "last_updated": "2024-01-01T00:00:00.000Z",
        },
        "not an object",
        {"id": "solana", "symbol": "sol", "name": "Solana", "current_price": 100},
        {"symbol": "x", "name": "X", "current_price": 1, "last_updated": "2024-01-01T00:00:00Z"},
    ]
    upstream.serve(MARKETS, json_reply(json.dumps(items)))
    summary = run_etl(engine, make_config(upstream), sources=["coingecko"], retry=FAST)
    gecko = by_source(summary)["coingecko"]
    # 5 of 6 rejected is more than ETL_MAX_REJECT_RATIO (0.5): failed, the good item kept.
    assert (gecko.status, gecko.rows_read, gecko.inserted, gecko.rejected) == (
        "failed",
        6,
        1,
        5,
    )
    assert gecko.error == (
        "likely schema drift: 5 of 6 read were rejected, more than ETL_MAX_REJECT_RATIO 0.5 "
        "allows; current_price is missing in 1 of 6 read; current_price is not a number in 1 "
        "of 6 read; item is not an object in 1 of 6 read (see rejects)"
    )
    rejects = query(engine, "SELECT locator, reason, raw FROM rejects ORDER BY id")
    assert [(r.locator, r.reason) for r in rejects] == [
        ("page 1 item 1", "current_price is missing"),
        ("page 1 item 2", "current_price '1.0' is not a number"),
        ("page 1 item 3", "item is str, not an object"),
        ("page 1 item 4", "last_updated is missing"),
        ("page 1 item 5", "id is missing"),
    ]
    assert json.loads(rejects[0].raw)["id"] == "ethereum"


def test_malformed_payloads_are_rejected_and_fail_only_their_source(
    engine: Engine, upstream: FakeUpstream
) -> None:
    upstream.serve(TICKERS, truncated(PAPRIKA))
    upstream.serve(MARKETS, garbage())
    summary = run_etl(engine, make_config(upstream), retry=FAST)
    assert summary.status == "partial"
    sources = by_source(summary)
    for name in ("coinpaprika", "coingecko"):
        assert (sources[name].status, sources[name].rejected) == ("failed", 1)
        assert sources[name].error == "no usable page: every response was rejected (see rejects)"
    assert sources["csv"].inserted == 1496 and sources["csv2"].inserted == 1274
    rejects = query(engine, "SELECT source, locator, reason FROM rejects ORDER BY source")
    assert [(r.source, r.locator) for r in rejects] == [
        ("coingecko", "page 1"),
        ("coinpaprika", "page 1"),
    ]
    assert all(r.reason.startswith("response is not valid JSON") for r in rejects)


def test_html_and_error_objects_are_rejected_with_what_came_instead(
    engine: Engine, upstream: FakeUpstream
) -> None:
    upstream.serve(TICKERS, html())
    upstream.serve(MARKETS, json_reply(sample("coingecko_error_403_2023-03-30.json").decode()))
    run_etl(engine, make_config(upstream), sources=["coinpaprika", "coingecko"], retry=FAST)
    rejects = query(engine, "SELECT source, reason FROM rejects")
    reasons: dict[str, str] = {row.source: row.reason for row in rejects}
    assert reasons["coinpaprika"].startswith("response is not valid JSON")
    assert "<!DOCTYPE html>" in reasons["coinpaprika"]
    assert reasons["coingecko"] == "expected a JSON array of items, got dict"


def test_a_403_fails_the_source_with_the_upstream_message(
    engine: Engine, upstream: FakeUpstream
) -> None:
    upstream.serve(MARKETS, forbidden())
    summary = run_etl(engine, make_config(upstream), sources=["coingecko", "csv"], retry=FAST)
    gecko = by_source(summary)["coingecko"]
    assert summary.status == "partial"
    assert gecko.status == "failed"
    assert "HTTP 403: This endpoint is temporarily unavailable" in (gecko.error or "")


@pytest.mark.slow
def test_raw_payloads_are_kept_compressed_with_sha256_and_pruned(
    engine: Engine, upstream: FakeUpstream
) -> None:
    config = make_config(upstream, raw_payload_retention=2)
    for _ in range(3):
        run_etl(engine, config, sources=["coinpaprika", "coingecko"], retry=FAST)
    stored = query(
        engine,
        "SELECT source, run_id, url, status_code, sha256, size, encoding, content "
        "FROM raw_payloads ORDER BY source, id",
    )
    assert [(r.source, r.run_id) for r in stored] == [
        ("coingecko", 2),
        ("coingecko", 3),
        ("coinpaprika", 2),
        ("coinpaprika", 3),
    ]
    gecko, paprika = stored[1], stored[3]
    assert gzip.decompress(paprika.content) == sample(PAPRIKA)
    assert paprika.sha256 == hashlib.sha256(sample(PAPRIKA)).hexdigest()
    assert (paprika.size, paprika.encoding, paprika.status_code) == (
        len(sample(PAPRIKA)),
        "gzip",
        200,
    )
    assert len(paprika.content) < paprika.size / 3
    assert gzip.decompress(gecko.content) == sample(GECKO)
    assert "page=1" in gecko.url and "vs_currency=usd" in gecko.url and "per_page=250" in gecko.url


@pytest.mark.slow
def test_a_second_run_over_the_same_payloads_inserts_nothing(
    engine: Engine, upstream: FakeUpstream
) -> None:
    config = make_config(upstream)
    run_etl(engine, config, sources=["coinpaprika", "coingecko"], retry=FAST)
    again = by_source(run_etl(engine, config, sources=["coinpaprika", "coingecko"], retry=FAST))
    assert again["coinpaprika"].inserted == again["coingecko"].inserted == 0
    assert again["coinpaprika"].updated == again["coingecko"].updated == 0
    assert again["coingecko"].unchanged == 120
    # Tickers last updated more than a day before the newest one fall outside the lookback.
    paprika = again["coinpaprika"]
    assert paprika.unchanged + paprika.skipped == 2500


def test_old_schema_tickers_and_missing_usd_quotes(engine: Engine, upstream: FakeUpstream) -> None:
    tickers = json.loads(sample(PAPRIKA_2019))[:50]
    tickers.append(
        {
            "id": "krw-only",
            "name": "KRW",
            "symbol": "KRW",
            "quotes": {"KRW": {}},
            "last_updated": "2019-10-04T10:50:55Z",
        }
    )
    upstream.serve(TICKERS, json_reply(json.dumps(tickers)))
    summary = run_etl(engine, make_config(upstream), sources=["coinpaprika"], retry=FAST)
    paprika = by_source(summary)["coinpaprika"]
    assert (paprika.rows_read, paprika.inserted, paprika.rejected) == (51, 50, 1)
    [reject] = query(engine, "SELECT locator, reason FROM rejects")
    assert (reject.locator, reject.reason) == ("page 1 item 50", "quotes.USD is missing")


def test_coingecko_pages_until_a_short_page_and_rejects_a_bad_page(
    engine: Engine, upstream: FakeUpstream
) -> None:
    base = json.loads(sample(GECKO))
    full = [dict(item, id=f"{item['id']}-{n}") for n in range(3) for item in base][:250]
    upstream.serve(MARKETS, json_reply(json.dumps(full)))
    upstream.serve(f"{MARKETS}?page=2", garbage())
    upstream.serve(f"{MARKETS}?page=3", json_reply(json.dumps(base[:10])))
    config = make_config(upstream, coingecko_pages=5)
    gecko = by_source(run_etl(engine, config, sources=["coingecko"], retry=FAST))["coingecko"]
    assert (gecko.status, gecko.inserted, gecko.rejected) == ("success", 260, 1)
    pages = [seen.query for seen in upstream.hits(MARKETS)]
    assert [q.split("page=")[-1] for q in pages] == ["1", "2", "3"]
    [reject] = query(engine, "SELECT locator FROM rejects")
    assert reject.locator == "page 2"
