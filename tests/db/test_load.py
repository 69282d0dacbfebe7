"""The bulk loader on the real database: counts, and timestamps written as raw text read back
through ``UTCDateTime`` as the same aware UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from kasparro.db import etl_reads, load
from kasparro.db.tables import checkpoints, records

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def staged(value: float, stamp: str = "2021-07-06 23:59:59.000000") -> load.StagedRow:
    return load.StagedRow("BTC", stamp, "bitcoin", "BTC", "Bitcoin", value, 1.0, None)


def test_upsert_counts_inserted_updated_unchanged(engine: Engine) -> None:
    with engine.begin() as conn:
        load.insert_assets(
            conn, "csv", [("bitcoin", "BTC", "Bitcoin")], [("BTC", "bitcoin", "seed")], NOW
        )
        first = load.upsert_records(
            conn, "csv", [staged(1.0), staged(2.0, "2021-07-07 00:00:00.250000")], 1, NOW
        )
    assert first == load.MergeCounts(2, 0, 0)
    with engine.begin() as conn:
        second = load.upsert_records(
            conn,
            "csv",
            [
                staged(1.5),
                staged(2.0, "2021-07-07 00:00:00.250000"),
                staged(3.0, "2021-07-08 00:00:00.000000"),
            ],
            2,
            NOW,
        )
    assert second == load.MergeCounts(1, 1, 1)
    with engine.connect() as conn:
        rows = conn.execute(select(records).order_by(records.c.timestamp)).all()
    assert [r.timestamp for r in rows] == [
        datetime(2021, 7, 6, 23, 59, 59, tzinfo=UTC),
        datetime(2021, 7, 7, 0, 0, 0, 250000, tzinfo=UTC),
        datetime(2021, 7, 8, tzinfo=UTC),
    ]
    assert [(r.value, r.run_id) for r in rows] == [(1.5, 2), (2.0, 1), (3.0, 2)]
    assert all(r.ingested_at == NOW for r in rows)
    assert rows[0].volume_24h is None


def test_a_row_written_through_the_table_type_matches_the_raw_text(engine: Engine) -> None:
    with engine.begin() as conn:
        load.insert_assets(conn, "csv", [("bitcoin", "BTC", "Bitcoin")], [], NOW)
        conn.execute(
            records.insert().values(
                source="csv",
                record_id="BTC",
                timestamp=datetime(2021, 7, 6, 23, 59, 59, tzinfo=UTC),
                asset_id="bitcoin",
                symbol="BTC",
                name="Bitcoin",
                value=1.0,
                market_cap=1.0,
                volume_24h=None,
                run_id=1,
                ingested_at=NOW,
            )
        )
        counts = load.upsert_records(conn, "csv", [staged(1.0)], 2, NOW)
    assert counts == load.MergeCounts(0, 0, 1)  # the same key: the formats agree


def test_checkpoints_upsert(engine: Engine) -> None:
    with engine.begin() as conn:
        assert etl_reads.read_checkpoint(conn, "csv") == (None, None)
        load.write_checkpoint(conn, "csv", None, "v1:1", 1, NOW)
        load.write_checkpoint(conn, "csv", datetime(2021, 1, 1, tzinfo=UTC), "v1:2", 2, NOW)
        assert etl_reads.read_checkpoint(conn, "csv") == (datetime(2021, 1, 1, tzinfo=UTC), "v1:2")
        assert conn.execute(select(checkpoints.c.run_id)).scalar_one() == 2


def test_fresh_rows_are_inserted_as_is_and_a_clash_writes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        load.insert_assets(conn, "csv", [("bitcoin", "BTC", "Bitcoin")], [], NOW)
        assert load.insert_fresh_records(
            conn, "csv", [staged(1.0), staged(2.0, "2021-07-07 00:00:00.250000")], 3, NOW
        )
    with engine.begin() as conn:
        clash = [staged(3.0, "2021-07-08 00:00:00.000000"), staged(9.0)]
        assert not load.insert_fresh_records(conn, "csv", clash, 4, NOW)
        # The transaction is still usable and the clashing batch left nothing behind.
        assert load.upsert_records(conn, "csv", clash, 4, NOW) == load.MergeCounts(1, 1, 0)
    with engine.connect() as conn:
        rows = conn.execute(select(records).order_by(records.c.timestamp)).all()
    assert [(r.timestamp, r.value, r.run_id) for r in rows] == [
        (datetime(2021, 7, 6, 23, 59, 59, tzinfo=UTC), 9.0, 4),
        (datetime(2021, 7, 7, 0, 0, 0, 250000, tzinfo=UTC), 2.0, 3),
        (datetime(2021, 7, 8, tzinfo=UTC), 3.0, 4),
    ]
    assert all(r.ingested_at == NOW and r.source == "csv" for r in rows)
    assert rows[1].market_cap == 1.0 and rows[1].volume_24h is None
