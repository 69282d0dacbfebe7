"""latest_records on its own: migration 0003 fills it from a 0002 store, the upsert keeps a
key's newest row, retention drops the rows whose record went."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, delete, insert, inspect

from kasparro.db import latest
from kasparro.db.load import StagedRow
from kasparro.db.migrate import HEAD, alembic_config, current_revision, upgrade
from kasparro.db.prune import prune
from kasparro.db.tables import records
from tests.db.latest_check import assert_consistent, stored_heads

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def record(source: str, record_id: str, hours: float, value: float) -> dict[str, object]:
    return {
        "source": source,
        "record_id": record_id,
        "timestamp": T0 + timedelta(hours=hours),
        "asset_id": record_id.lower(),
        "symbol": record_id.upper(),
        "name": record_id,
        "value": value,
        "ingested_at": T0,
    }


STORE = [
    record("csv", "BTC", 0, 1.0),
    record("csv", "BTC", 5, 5.0),
    record("csv", "BTC", 3, 3.0),
    record("csv2", "BTC", 5, 50.0),
    record("csv", "ETH", 1.5, 7.25),
    record("coingecko", "bitcoin", 0.000001, 9.0),
    record("coingecko", "bitcoin", 0, 8.0),
]


def stamp(hours: float) -> str:
    """A timestamp as the loader stages it: naive UTC text."""
    return (T0 + timedelta(hours=hours)).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def test_0003_fills_the_table_from_a_0002_store_and_downgrades(engine: Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    assert "latest_records" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(insert(records), STORE)
    assert upgrade(engine, "0003") == "0003"
    assert assert_consistent(engine) == {
        ("csv", "BTC"): (T0 + timedelta(hours=5), 5.0),
        ("csv2", "BTC"): (T0 + timedelta(hours=5), 50.0),
        ("csv", "ETH"): (T0 + timedelta(hours=1.5), 7.25),
        ("coingecko", "bitcoin"): (T0 + timedelta(microseconds=3600), 9.0),
    }
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    assert current_revision(engine) == "0002"
    assert "latest_records" not in inspect(engine).get_table_names()
    assert upgrade(engine, "0003") == "0003"
    assert len(assert_consistent(engine)) == 4
    assert upgrade(engine) == HEAD  # the next test gets a store at head


def test_fill_rebuilds_from_records(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(records), STORE)
        latest.upsert(conn, "csv", [("GONE", stamp(9), 1.0)])  # no record: fill drops it
        assert latest.fill(conn) == 4
    assert_consistent(engine)


def test_a_row_replaces_a_key_only_at_the_same_or_a_newer_timestamp(engine: Engine) -> None:
    steps = [
        ((2, 2.0), (2, 2.0)),  # new key
        ((1, 1.0), (2, 2.0)),  # older: ignored
        ((2, 2.5), (2, 2.5)),  # a correction at the newest timestamp
        ((3, 3.0), (3, 3.0)),  # newer
    ]
    for (hours, value), (held_hours, held_value) in steps:
        with engine.begin() as conn:
            latest.upsert(conn, "csv", [("BTC", stamp(hours), value), ("ETH", stamp(0), 1.0)])
        assert stored_heads(engine) == {
            ("csv", "BTC"): (T0 + timedelta(hours=held_hours), held_value),
            ("csv", "ETH"): (T0, 1.0),
        }


def test_newest_keeps_one_row_per_key_over_several_writes(engine: Engine) -> None:
    heads = latest.Newest()
    row = StagedRow("BTC", stamp(2), "bitcoin", "BTC", "Bitcoin", 2.0, None, None)
    heads.add([row, StagedRow("ETH", stamp(1), "ethereum", "ETH", "Ethereum", 1.0, None, None)])
    heads.add([row._replace(timestamp=stamp(1), value=1.0)])  # older: not kept
    heads.add([row._replace(value=2.5)])  # same time, later: kept
    with engine.begin() as conn:
        heads.upsert(conn, "csv")
    heads.clear()
    with engine.begin() as conn:
        heads.upsert(conn, "csv")  # nothing gathered: nothing written
    assert stored_heads(engine) == {
        ("csv", "BTC"): (T0 + timedelta(hours=2), 2.5),
        ("csv", "ETH"): (T0 + timedelta(hours=1), 1.0),
    }


@pytest.mark.parametrize("batch_size", [1, 2, 10_000])
def test_pruning_records_drops_the_keys_left_without_any(engine: Engine, batch_size: int) -> None:
    now = T0 + timedelta(days=400)
    ages = {"OLD": (400, 300), "MIXED": (399, 30, 350), "YOUNG": (10, 0)}
    with engine.begin() as conn:
        conn.execute(
            insert(records),
            [
                record(source, symbol, 24 * (400 - age), float(age))
                for symbol, days in ages.items()
                for age in days
                for source in ("csv", "csv2")
            ],
        )
        latest.fill(conn)
    counts = prune(engine, now - timedelta(days=90), tables=("records",), batch_size=batch_size)
    assert counts == {"records": 8}
    heads = assert_consistent(engine)
    assert sorted(heads) == [
        (source, symbol) for source in ("csv", "csv2") for symbol in ("MIXED", "YOUNG")
    ]
    assert heads[("csv", "MIXED")][1] == 30.0


def test_a_key_that_keeps_an_older_record_gets_it_back(engine: Engine) -> None:
    """A newest record gone while an older one is there (a load committed it during the
    prune): the older one becomes the key's row."""
    with engine.begin() as conn:
        conn.execute(insert(records), [record("csv", "BTC", 0, 1.0), record("csv", "BTC", 1, 2.0)])
        latest.fill(conn)
        conn.execute(delete(records).where(records.c.timestamp == T0 + timedelta(hours=1)))
        latest.forget_pruned(conn, T0 + timedelta(days=1))
    assert assert_consistent(engine) == {("csv", "BTC"): (T0, 1.0)}
