"""latest_records after real ETL runs equals the newest record of every key, brute-forced from
records: API and CSV loads, corrections at the newest timestamp, older rows arriving late, a
stopped run, a killed run, retention; and latestPrices reads it with today's rule."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from kasparro.db import queries
from kasparro.db.prune import prune
from kasparro.db.tables import asset_aliases, assets, records
from kasparro.etl.pipeline import run_etl
from tests.db.latest_check import assert_consistent
from tests.etl.conftest import FAST, by_source, make_config, query, write
from tests.etl.test_crash import big_csv, kill_mid_load
from tests.support.upstream import PAPRIKA, TICKERS, FakeUpstream, json_reply, sample

HEADER = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def brute_latest_prices(engine: Engine) -> list[tuple[object, ...]]:
    """Today's rule straight from records: per alias its newest record; per asset and source
    the newer alias row (ties: the smaller record id); ordered by asset id, then source."""
    with engine.connect() as conn:
        names = {row.id: (row.symbol, row.name) for row in conn.execute(select(assets))}
        aliases = {(r.source, r.record_id): r.asset_id for r in conn.execute(select(asset_aliases))}
        heads: dict[tuple[str, str], tuple[datetime, float]] = {}
        for row in conn.execute(select(records)):
            held = heads.get((row.source, row.record_id))
            if held is None or row.timestamp > held[0]:
                heads[(row.source, row.record_id)] = (row.timestamp, row.value)
    best: dict[tuple[str, str], tuple[object, ...]] = {}
    for (source, record_id), (timestamp, value) in heads.items():
        asset_id = aliases.get((source, record_id))
        if asset_id is None:
            continue
        candidate = (asset_id, source, record_id, value, timestamp, *names[asset_id])
        kept = best.get((asset_id, source))
        if kept is None or (timestamp, kept[2]) > (kept[4], record_id):
            best[(asset_id, source)] = candidate
    return [best[key] for key in sorted(best)]


def served_latest_prices(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in queries.latest_prices(conn)]


@pytest.mark.slow
def test_api_runs_with_corrections_and_late_rows(engine: Engine, upstream: FakeUpstream) -> None:
    config = make_config(upstream)
    run_etl(engine, config, sources=["coinpaprika", "coingecko"], retry=FAST)
    first = assert_consistent(engine)
    assert first[("coinpaprika", "btc-bitcoin")] == (at("2023-08-11T08:09:18Z"), 29427.918932650417)

    tickers = json.loads(sample(PAPRIKA))
    by_id = {ticker["id"]: ticker for ticker in tickers}
    by_id["btc-bitcoin"]["quotes"]["USD"]["price"] = 30000.5  # corrected, same timestamp
    by_id["eth-ethereum"]["last_updated"] = "2023-08-11T09:00:00Z"  # newer
    by_id["eth-ethereum"]["quotes"]["USD"]["price"] = 1900.25
    late = by_id["usdt-tether"]  # an hour older than what is stored: inside the lookback
    late["last_updated"] = "2023-08-11T07:09:18Z"
    late["quotes"]["USD"]["price"] = 0.5
    upstream.serve(TICKERS, json_reply(json.dumps(tickers)))
    summary = by_source(run_etl(engine, config, sources=["coinpaprika"], retry=FAST))
    assert summary["coinpaprika"].status == "success"
    heads = assert_consistent(engine)
    assert heads[("coinpaprika", "btc-bitcoin")] == (at("2023-08-11T08:09:18Z"), 30000.5)
    assert heads[("coinpaprika", "eth-ethereum")] == (at("2023-08-11T09:00:00Z"), 1900.25)
    assert heads[("coinpaprika", "usdt-tether")] == first[("coinpaprika", "usdt-tether")]
    assert len(query(engine, "SELECT * FROM records WHERE record_id = 'usdt-tether'")) == 2
    assert served_latest_prices(engine) == brute_latest_prices(engine)


def test_csv_corrections_duplicates_and_late_rows_over_batches(
    engine: Engine, tmp_path: Path
) -> None:
    """Batches of 2 rows: on SQLite several batches share one transaction, on PostgreSQL each
    commits on its own; a key's rows come in any order across them."""
    path = write(
        tmp_path / "p.csv",
        HEADER
        + "BTC,Bitcoin,3,,,2021-07-03T00:00:00Z\n"
        + "ETH,Ethereum,1,,,2021-07-01T00:00:00Z\n"
        + "BTC,Bitcoin,1,,,2021-07-01T00:00:00Z\n"  # older, in a later batch
        + "ETH,Ethereum,2,,,2021-07-02T00:00:00Z\n"
        + "ETH,Ethereum,20,,,2021-07-02T00:00:00Z\n"  # a correction of the newest, later
        + "LTC,Litecoin,5,,,2021-07-02T00:00:00Z\n",
    )
    config = make_config(csv_path=path, batch_size=2, lookback_seconds=2 * 86400)
    run_etl(engine, config, sources=["csv"], retry=FAST)
    assert assert_consistent(engine) == {
        ("csv", "BTC"): (at("2021-07-03T00:00:00Z"), 3.0),
        ("csv", "ETH"): (at("2021-07-02T00:00:00Z"), 20.0),
        ("csv", "LTC"): (at("2021-07-02T00:00:00Z"), 5.0),
    }
    # The file is rewritten: BTC's newest corrected, ETH's older row corrected, a late LTC row
    # inside the lookback, and a BTC row older than BTC's newest - lookback (skipped). ETH's
    # newest row is set to 2, then back to 20, by two batches of the run.
    write(
        path,
        path.read_text()
        .replace("BTC,Bitcoin,3,", "BTC,Bitcoin,33,")
        .replace("ETH,Ethereum,1,", "ETH,Ethereum,11,")
        + "LTC,Litecoin,4,,,2021-07-01T12:00:00Z\n"
        + "BTC,Bitcoin,1,,,2021-06-01T00:00:00Z\n",
    )
    csv = by_source(run_etl(engine, config, sources=["csv"], retry=FAST))["csv"]
    assert (csv.updated, csv.inserted, csv.skipped) == (4, 1, 1)
    assert assert_consistent(engine) == {
        ("csv", "BTC"): (at("2021-07-03T00:00:00Z"), 33.0),
        ("csv", "ETH"): (at("2021-07-02T00:00:00Z"), 20.0),
        ("csv", "LTC"): (at("2021-07-02T00:00:00Z"), 5.0),
    }
    # A backfill far older than the checkpoint (a new file, read from the start).
    write(path, HEADER + "BTC,Bitcoin,0.5,,,2021-06-01T00:00:00Z\n")
    run_etl(engine, make_config(csv_path=path, lookback_seconds=10**8), sources=["csv"])
    assert assert_consistent(engine)[("csv", "BTC")] == (at("2021-07-03T00:00:00Z"), 33.0)


@pytest.mark.slow
def test_a_stopped_run_keeps_latest_records_with_what_it_committed(engine: Engine) -> None:
    stop = threading.Event()
    config = make_config(batch_size=500)
    summary = run_etl(
        engine,
        config,
        sources=["csv"],
        progress=lambda event: stop.set() if event.kind == "batch" else None,
        stop=stop,
    )
    assert (summary.status, summary.error) == ("failed", "stopped")
    assert by_source(summary)["csv"].inserted == 500
    assert assert_consistent(engine)
    run_etl(engine, config, sources=["csv"])
    assert len(assert_consistent(engine)) == len(
        query(engine, "SELECT DISTINCT record_id FROM records")
    )


@pytest.mark.slow
def test_a_killed_run_leaves_latest_records_as_committed(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Killed mid-load (a transaction open): what it had not committed is in neither table."""
    path = big_csv(tmp_path / "big.csv")
    kill_mid_load(database_url, engine, path)
    assert assert_consistent(engine)
    run_etl(engine, make_config(csv_path=path), sources=["csv"])
    heads = assert_consistent(engine)
    assert len(heads) == 400
    assert heads[("csv", "C7")] == (at("2020-11-20T00:00:00Z"), 7 + 299 / 7)  # day 299


@pytest.mark.slow
def test_all_sources_then_retention(engine: Engine, upstream: FakeUpstream) -> None:
    run_etl(engine, make_config(upstream), retry=FAST)
    assert_consistent(engine)
    assert served_latest_prices(engine) == brute_latest_prices(engine)
    # Cut just after csv2's newest row: every csv2 key goes, csv (to 2021-07-06) loses its
    # older rows only, the API rows (2023, 2025) stay.
    with engine.connect() as conn:
        newest_csv2 = conn.execute(
            select(func.max(records.c.timestamp)).where(records.c.source == "csv2")
        ).scalar_one()
    cutoff = newest_csv2 + timedelta(seconds=1)
    assert prune(engine, cutoff, tables=("records",), batch_size=700)["records"] > 0
    heads = assert_consistent(engine)
    assert {source for source, _ in heads} == {"coinpaprika", "coingecko", "csv"}
    assert served_latest_prices(engine) == brute_latest_prices(engine)
