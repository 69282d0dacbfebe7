"""db.queries on its own: keyset pages at tie boundaries, latest prices, stats on nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from kasparro.db import latest, queries
from kasparro.db.outcomes import Counters
from kasparro.db.queries import Keyset, RecordFilters
from kasparro.db.tables import asset_aliases, assets, records
from tests.gql.store import T0, load_store


def test_pages_split_inside_a_run_of_equal_timestamps(engine: Engine) -> None:
    store = load_store(engine)
    expected = store.keys(store.newest_first())
    with engine.connect() as conn:
        cases: list[tuple[queries.Order, list[tuple[str, str, str]]]] = [
            ("desc", expected),
            ("asc", expected[::-1]),
        ]
        for order, wanted in cases:
            seen: list[tuple[str, str, str]] = []
            after: Keyset | None = None
            while True:
                page = queries.records(conn, RecordFilters(), after, 3, order)
                seen += [(r.timestamp.isoformat(), r.source, r.record_id) for r in page.rows]
                after = page.next_key
                if after is None:
                    assert not page.has_next
                    break
            assert seen == wanted


def test_count_and_time_bounds(engine: Engine) -> None:
    load_store(engine)
    window = RecordFilters(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))
    with engine.connect() as conn:
        assert queries.count_records(conn, window) == 8  # one row per alias, hour 1 only
        assert queries.count_records(conn, RecordFilters(sources=("csv2",))) == 6


def test_latest_price_prefers_the_newer_record_id_of_a_source(engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(assets), {"id": "x", "symbol": "X", "name": "X", "created_at": now})
        conn.execute(
            insert(asset_aliases),
            [
                {"source": "csv", "record_id": r, "asset_id": "x", "method": "m", "created_at": now}
                for r in ("X", "XX")
            ],
        )
        conn.execute(
            insert(records),
            [
                {
                    "source": "csv",
                    "record_id": record_id,
                    "timestamp": T0 + timedelta(hours=hour),
                    "asset_id": "x",
                    "symbol": "X",
                    "name": "X",
                    "value": value,
                    "ingested_at": now,
                }
                for record_id, hour, value in (("X", 0, 1.0), ("X", 3, 2.0), ("XX", 2, 3.0))
            ],
        )
        latest.fill(conn)
    with engine.connect() as conn:
        (row,) = queries.latest_prices(conn, asset_ids=["x"])
        assert (row.record_id, row.value, row.timestamp) == ("X", 2.0, T0 + timedelta(hours=3))
        assert queries.latest_prices(conn, symbols=["NOPE"]) == []


def test_latest_prices_come_in_code_point_order_with_ties_to_the_smaller_record_id(
    engine: Engine,
) -> None:
    # Ids a linguistic collation orders otherwise (case, punctuation, accents), two record
    # ids of one source per asset at the same newest timestamp.
    ids = ["b-coin", "bcoin", "B-coin", "a_z", "az", "\u00e9coin", "ecoin", "Zed", "z-1"]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(assets), [{"id": i, "symbol": "S", "name": i, "created_at": now} for i in ids]
        )
        aliases, rows = [], []
        for number, asset_id in enumerate(ids):
            for source in ("csv2", "coingecko"):
                for record_id in (f"{asset_id}/2", f"{asset_id}/1"):
                    aliases.append(
                        {
                            "source": source,
                            "record_id": record_id,
                            "asset_id": asset_id,
                            "method": "m",
                            "created_at": now,
                        }
                    )
                    for hour in (0, 1):
                        rows.append(
                            {
                                "source": source,
                                "record_id": record_id,
                                "timestamp": T0 + timedelta(hours=hour),
                                "asset_id": asset_id,
                                "symbol": "S",
                                "name": asset_id,
                                "value": number + hour / 10 + (0.01 if "/1" in record_id else 0),
                                "ingested_at": now,
                            }
                        )
        conn.execute(insert(asset_aliases), aliases)
        conn.execute(insert(records), rows)
        latest.fill(conn)
    with engine.connect() as conn:
        found = [
            (row.asset_id, row.source, row.record_id, row.value, row.timestamp)
            for row in queries.latest_prices(conn)
        ]
    assert found == [
        (asset_id, source, f"{asset_id}/1", number + 0.1 + 0.01, T0 + timedelta(hours=1))
        for asset_id, number in sorted((asset_id, ids.index(asset_id)) for asset_id in ids)
        for source in ("coingecko", "csv2")
    ]


def test_stats_of_an_empty_store(engine: Engine) -> None:
    with engine.connect() as conn:
        figures = queries.store_stats(conn)
    assert figures.records_total == figures.records_processed == figures.runs_total == 0
    assert figures.last_run is None and figures.sources == []
    assert figures.rows == Counters()
