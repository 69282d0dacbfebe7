"""``latest_version`` and ``PricesCache``: every writer of ``latest_records`` moves the
counter in its own transaction, and the cache answers from the kept rows exactly while the
counter stands still."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, delete, event, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from kasparro.db import latest, queries
from kasparro.db.latest_cache import MEMO_ENTRIES, Prices, PricesCache
from kasparro.db.migrate import HEAD, alembic_config, upgrade
from kasparro.db.prune import prune
from kasparro.db.tables import asset_aliases, assets, latest_records, latest_version, records

T0 = datetime(2024, 5, 1, tzinfo=UTC)
COINS = (("bitcoin", "BTC", "Bitcoin"), ("ethereum", "ETH", "Ethereum"), ("tether", "USDT", "T"))


def stamp(hours: float) -> str:
    """A timestamp as the loader stages it: naive UTC text."""
    return (T0 + timedelta(hours=hours)).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def record(source: str, asset_id: str, hours: float, value: float) -> dict[str, object]:
    symbol = next(symbol for id_, symbol, _ in COINS if id_ == asset_id)
    return {
        "source": source,
        "record_id": f"{source}-{asset_id}",
        "timestamp": T0 + timedelta(hours=hours),
        "asset_id": asset_id,
        "symbol": symbol,
        "name": asset_id,
        "value": value,
        "ingested_at": T0,
    }


@pytest.fixture
def store(engine: Engine) -> Engine:
    """Three assets, two sources each, two hours of records; ``latest_records`` filled."""
    with engine.begin() as conn:
        conn.execute(
            insert(assets),
            [{"id": i, "symbol": s, "name": n, "created_at": T0} for i, s, n in COINS],
        )
        conn.execute(
            insert(asset_aliases),
            [
                {
                    "source": source,
                    "record_id": f"{source}-{asset_id}",
                    "asset_id": asset_id,
                    "method": "test",
                    "created_at": T0,
                }
                for asset_id, _, _ in COINS
                for source in ("csv", "coingecko")
            ],
        )
        conn.execute(
            insert(records),
            [
                record(source, asset_id, hours, 10.0 * position + hours)
                for position, (asset_id, _, _) in enumerate(COINS)
                for source in ("csv", "coingecko")
                for hours in (0, 1)
            ],
        )
        latest.fill(conn)
    return engine


def counter(engine: Engine) -> int | None:
    """The number of ``latest_version`` (the token is drawn afresh by every move)."""
    with engine.connect() as conn:
        pair = latest.version(conn)
    return None if pair is None else pair[0]


def fresh(engine: Engine, asset_ids: tuple[str, ...] = (), symbols: tuple[str, ...] = ()) -> Any:
    with engine.connect() as conn:
        return queries.latest_prices(conn, asset_ids, symbols)


def read(
    cache: PricesCache,
    engine: Engine,
    asset_ids: tuple[str, ...] = (),
    symbols: tuple[str, ...] = (),
) -> Any:
    with engine.connect() as conn:
        return cache.read(conn, asset_ids, symbols)


def test_0004_starts_the_counter_at_one_and_downgrades(engine: Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    assert "latest_version" not in inspect(engine).get_table_names()
    assert upgrade(engine) == HEAD
    assert counter(engine) == 1
    with pytest.raises(IntegrityError, match=r"one_row"), engine.begin() as conn:
        conn.execute(insert(latest_version), {"id": 2, "version": 1, "token": 0})  # one row


def test_every_writer_of_latest_records_moves_the_counter(store: Engine) -> None:
    start = counter(store)
    assert start is not None and start > 1  # the fixture's fill moved it
    with store.begin() as conn:
        assert latest.upsert(conn, "csv", [("csv-bitcoin", stamp(2), 2.0)]) == 1
    assert counter(store) == start + 1
    with store.begin() as conn:
        assert latest.upsert(conn, "csv", []) == 0  # nothing offered: nothing changed
        latest.Newest().upsert(conn, "csv")
        # The same row again (a lookback, an unchanged re-run) and an older one change nothing.
        assert latest.upsert(conn, "csv", [("csv-bitcoin", stamp(2), 2.0)]) == 0
        assert latest.upsert(conn, "csv", [("csv-bitcoin", stamp(1.5), 9.0)]) == 0
    assert counter(store) == start + 1
    with store.begin() as conn:  # a correction at the newest timestamp does
        assert latest.upsert(conn, "csv", [("csv-bitcoin", stamp(2), 2.5)]) == 1
    assert counter(store) == start + 2
    with store.begin() as conn:
        latest.fill(conn)
    assert counter(store) == start + 3
    # Retention that removes no key's newest record leaves the counter alone ...
    assert prune(store, T0 + timedelta(minutes=30), tables=("records",)) == {"records": 6}
    assert counter(store) == start + 3
    # ... and one that empties keys moves it once per batch that did.
    assert prune(store, T0 + timedelta(days=1), tables=("records",), batch_size=4) == {"records": 6}
    assert counter(store) == start + 5
    with store.begin() as conn:
        latest.upsert(conn, "csv", [("csv-bitcoin", stamp(3), 3.0)])
        conn.rollback()  # a change rolled back takes its move with it
    assert counter(store) == start + 5


def test_the_kept_answer_serves_until_the_counter_moves(store: Engine) -> None:
    cache = PricesCache()
    first = read(cache, store)
    assert first.rows == fresh(store)
    assert [(row.asset_id, row.source, row.value) for row in first.rows] == [
        ("bitcoin", "coingecko", 1.0),
        ("bitcoin", "csv", 1.0),
        ("ethereum", "coingecko", 11.0),
        ("ethereum", "csv", 11.0),
        ("tether", "coingecko", 21.0),
        ("tether", "csv", 21.0),
    ]
    again = read(cache, store)
    assert again.rows is first.rows and again.memo is first.memo
    assert cache.reads == 1
    # A write that skips the writers' protocol is not seen: the counter did not move.
    with store.begin() as conn:
        conn.execute(update(latest_records).values(value=99.0))
    assert read(cache, store).rows is first.rows
    # A load through the writers is seen by the next read.
    with store.begin() as conn:
        latest.upsert(conn, "csv", [("csv-ethereum", stamp(5), 15.5)])
    changed = read(cache, store)
    assert cache.reads == 2
    assert changed.rows == fresh(store)
    assert [(row.asset_id, row.source, row.value) for row in changed.rows][3] == (
        "ethereum",
        "csv",
        15.5,
    )
    assert changed.memo is not first.memo and changed.memo == {}


@pytest.mark.parametrize(
    ("asset_ids", "symbols"),
    [
        (("ethereum",), ()),
        (("tether", "bitcoin"), ()),
        ((), ("USDT",)),
        (("bitcoin",), ("BTC", "ETH")),
        (("bitcoin",), ("ETH",)),
        (("nope",), ()),
    ],
)
def test_filters_pick_what_the_filtered_query_picks(
    store: Engine, asset_ids: tuple[str, ...], symbols: tuple[str, ...]
) -> None:
    cache = PricesCache()
    cold = read(cache, store, asset_ids, symbols)  # nothing kept: the filtered query, kept not
    assert cold.rows == fresh(store, asset_ids, symbols) and cold.memo is None
    assert cache.reads == 1
    read(cache, store)
    warm = read(cache, store, asset_ids, symbols)
    assert cache.reads == 2
    assert warm.rows == fresh(store, asset_ids, symbols) and warm.memo is None


def test_a_change_committed_between_the_two_reads_is_read_again(store: Engine) -> None:
    """The counter is read before the rows: rows newer than their counter only cost a read."""
    cache = PricesCache()
    writes: list[None] = []

    def commit_a_load(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM asset_aliases" in statement and not writes:
            writes.append(None)
            with store.begin() as other:  # another connection commits a load meanwhile
                latest.upsert(other, "coingecko", [("coingecko-tether", stamp(9), 0.5)])

    event.listen(store, "before_cursor_execute", commit_a_load)
    try:
        first = read(cache, store)
    finally:
        event.remove(store, "before_cursor_execute", commit_a_load)
    assert writes and ("tether", "coingecko", 0.5) in [
        (row.asset_id, row.source, row.value) for row in first.rows
    ]
    second = read(cache, store)
    assert cache.reads == 2 and second.rows == first.rows == fresh(store)
    assert read(cache, store).rows is second.rows


def test_a_slower_reader_of_an_older_counter_does_not_replace_a_newer_answer(
    store: Engine,
) -> None:
    """Two worker threads interleaved: A reads the counter, a load commits, B reads counter
    and rows and keeps them, then A gets its rows. B's answer stays kept."""
    cache = PricesCache()
    newer: list[Any] = []

    def load_and_read(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM asset_aliases" in statement and not newer:
            newer.append(None)
            with store.begin() as other:
                latest.upsert(other, "csv", [("csv-bitcoin", stamp(4), 4.0)])
            newer.append(read(cache, store))  # B, on its own connection

    event.listen(store, "before_cursor_execute", load_and_read)
    try:
        older = read(cache, store)  # A
    finally:
        event.remove(store, "before_cursor_execute", load_and_read)
    # A kept its rows under the older counter: the next request reads once more, and
    # every answer is the current one.
    assert older.rows == newer[1].rows == fresh(store)
    again = read(cache, store)
    assert again.rows == fresh(store) and cache.reads == 3
    assert read(cache, store).rows is again.rows and cache.reads == 3


def test_a_store_restored_from_a_backup_is_read_again(store: Engine) -> None:
    """The number goes back with the backup and counts up to the kept one again: the token
    tells the two states apart."""
    with store.connect() as conn:
        backup = latest.version(conn)
        backup_rows = conn.execute(select(latest_records)).all()
    assert backup is not None
    with store.begin() as conn:
        latest.upsert(conn, "csv", [("csv-bitcoin", stamp(7), 7.0)])
    cache = PricesCache()
    kept = read(cache, store)
    assert ("bitcoin", "csv", 7.0) in [(r.asset_id, r.source, r.value) for r in kept.rows]
    with store.begin() as conn:  # the restore: the backup's rows and counter
        conn.execute(delete(latest_records))
        conn.execute(insert(latest_records), [row._asdict() for row in backup_rows])
        conn.execute(update(latest_version).values(version=backup[0], token=backup[1]))
    with store.begin() as conn:  # a load after it counts up to the kept number again
        latest.upsert(conn, "csv", [("csv-ethereum", stamp(8), 8.0)])
    assert counter(store) == backup[0] + 1
    answer = read(cache, store)
    assert answer.rows == fresh(store) and cache.reads == 2
    assert ("bitcoin", "csv", 1.0) in [(r.asset_id, r.source, r.value) for r in answer.rows]


def test_a_read_store_behind_migration_0004_is_read_every_time(store: Engine) -> None:
    """A read copy taken before the counter existed: no table, so nothing is kept."""
    with store.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    try:
        cache = PricesCache()
        for _ in range(2):
            answer = read(cache, store)
            assert answer.rows == fresh(store) and len(answer.rows) == 6 and answer.memo is None
        assert cache.reads == 2
    finally:
        assert upgrade(store) == HEAD


def test_a_store_without_the_counter_row_is_read_every_time(store: Engine) -> None:
    with store.begin() as conn:
        conn.execute(delete(latest_version))
    cache = PricesCache()
    for _ in range(2):
        answer = read(cache, store)
        assert answer.rows == fresh(store) and answer.memo is None
    assert cache.reads == 2


def test_the_memo_holds_a_bounded_number_of_answers() -> None:
    memo: dict[object, str] = {}
    kept = Prices([], memo)
    for key in range(MEMO_ENTRIES + 5):
        text = f"text {key}"
        assert kept.built(key, lambda rows: text) == text  # noqa: B023 (called at once)
    assert len(memo) == MEMO_ENTRIES and memo[0] == "text 0"
    assert MEMO_ENTRIES not in memo
