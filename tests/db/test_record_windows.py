"""``db.queries.records`` over random stores, paging both ways: every row exactly once and
in order across runs of equal timestamps, from either end, between two cursors, with the
flags Relay's ``pageInfo`` reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, insert

from kasparro.db import queries
from kasparro.db.queries import Keyset, Order, RecordFilters, RecordPage
from kasparro.db.tables import records
from tests.conftest import ON_POSTGRESQL

T0 = datetime(2024, 5, 1, tzinfo=UTC)
SOURCES = ("coinpaprika", "coingecko", "csv", "csv2")
EXAMPLES = 40 if ON_POSTGRESQL else 120

Key = tuple[datetime, str, str]

keys = st.lists(
    st.tuples(
        st.integers(0, 4).map(lambda hour: T0 + timedelta(hours=hour)),  # many ties
        st.sampled_from(SOURCES),
        st.sampled_from(("BTC", "bitcoin", "btc-bitcoin", "a", "b")),
    ),
    unique=True,
    max_size=40,
)


def fill(conn: Connection, stored: list[Key]) -> None:
    conn.execute(delete(records))
    if stored:
        conn.execute(
            insert(records),
            [
                {
                    "source": source,
                    "record_id": record_id,
                    "timestamp": stamp,
                    "asset_id": "bitcoin",
                    "symbol": "BTC",
                    "name": "Bitcoin",
                    "value": 1.0,
                    "ingested_at": T0,
                }
                for stamp, source, record_id in stored
            ],
        )


def key_of(row: Any) -> Key:
    return (row.timestamp, row.source, row.record_id)


def keyset(key: Key) -> Keyset:
    return Keyset(*key)


def read(conn: Connection, filters: RecordFilters, order: Order, **window: Any) -> RecordPage:
    return queries.records(
        conn,
        filters,
        window.pop("after", None),
        window.pop("limit"),
        order,
        look_beyond=True,
        **window,
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stored=keys,
    size=st.integers(1, 7),
    order=st.sampled_from(("asc", "desc")),
    sources=st.sets(st.sampled_from(SOURCES), max_size=2),
    cut=st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 8)),
)
def test_walks_both_ways_and_windows(
    engine: Engine,
    stored: list[Key],
    size: int,
    order: Order,
    sources: set[str],
    cut: tuple[int, int, int],
) -> None:
    filters = RecordFilters(sources=tuple(sorted(sources)))
    wanted = sorted(
        (key for key in stored if not sources or key[1] in sources), reverse=order == "desc"
    )
    with engine.begin() as conn:
        fill(conn, stored)
        # Forward: first/after, endCursor to endCursor.
        seen: list[Key] = []
        after: Keyset | None = None
        while True:
            page = read(conn, filters, order, after=after, limit=size)
            assert page.has_previous == (after is not None)  # the row at `after` is there
            seen += map(key_of, page.rows)
            if not page.has_next:
                break
            after = keyset(seen[-1])
        assert seen == wanted
        # Backward: last/before, startCursor to startCursor.
        seen = []
        before: Keyset | None = None
        while True:
            page = read(conn, filters, order, before=before, limit=size, from_end=True)
            assert page.has_next == (before is not None)
            seen[:0] = map(key_of, page.rows)
            if not page.has_previous:
                break
            before = keyset(seen[0])
        assert seen == wanted
        # A window between two rows' cursors, from its start and from its end.
        if len(wanted) >= 2:
            low, high = sorted((cut[0] % len(wanted), cut[1] % len(wanted)))
            inside = wanted[low + 1 : high]
            bounds = {"after": keyset(wanted[low]), "before": keyset(wanted[high])}
            page = read(conn, filters, order, limit=cut[2], **bounds)
            assert list(map(key_of, page.rows)) == inside[: cut[2]]
            assert page.has_next == (len(inside) > cut[2]) and page.has_previous
            page = read(conn, filters, order, limit=cut[2], from_end=True, **bounds)
            assert list(map(key_of, page.rows)) == inside[max(len(inside) - cut[2], 0) :]
            assert page.has_previous == (len(inside) > cut[2]) and page.has_next
        # A page of 0 rows only says whether rows exist, from either end.
        for from_end in (False, True):
            empty = read(conn, filters, order, limit=0, from_end=from_end)
            assert empty.rows == []
            assert (empty.has_previous if from_end else empty.has_next) == bool(wanted)
