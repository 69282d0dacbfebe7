"""Generated stores for the data products' differential tests, and a model of them.

A ``Scenario`` is a few loads (rows of up to four sources for a few assets, a source
sometimes reporting an asset under two record ids), late corrections (a row loaded again
with another value) and an optional prune. ``apply`` writes it through the loader's own
functions (``db.load.upsert_records`` with ``db.latest.Newest``, ``db.prune.prune``), so
``latest_records`` is kept as the ETL keeps it; ``Model`` holds the rows the store must
then hold, for brute-force answers in plain Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert

from kasparro.db import latest
from kasparro.db.load import StagedRow, upsert_records
from kasparro.db.prune import prune
from kasparro.db.tables import asset_aliases, assets, latest_records, records

T0 = datetime(2024, 4, 29, tzinfo=UTC)
"""A Monday at midnight UTC: bucket boundaries of every interval fall on it."""

SOURCES = ("coinpaprika", "coingecko", "csv", "csv2")


def examples(count: int) -> settings:
    """Hypothesis settings of a differential test: each example writes a store."""
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


ASSET_IDS = ("alpha", "beta", "gamma")


class Row(NamedTuple):
    source: str
    record_id: str
    timestamp: datetime
    value: float

    @property
    def asset_id(self) -> str:
        return self.record_id.split("~")[0]


def symbol_of(asset_id: str) -> str:
    return asset_id[:3].upper()


def _offsets(days: int) -> st.SearchStrategy[timedelta]:
    """Times within ``days`` of T0: on bucket boundaries, just before one, or anywhere."""
    fives = days * 24 * 12
    return st.one_of(
        # A crowded first hour: ties across sources, many samples per bucket.
        st.integers(0, 12).map(lambda k: timedelta(minutes=5 * k)),
        st.integers(0, fives).map(lambda k: timedelta(minutes=5 * k)),
        st.integers(1, fives).map(lambda k: timedelta(minutes=5 * k, microseconds=-1)),
        st.integers(0, days * 86400).map(lambda s: timedelta(seconds=s)),
        st.integers(0, days // 7).map(lambda w: timedelta(weeks=w, microseconds=-1 if w else 0)),
    )


_VALUES = st.one_of(
    st.sampled_from([0.0, 1.0, 1.5, 99.0, 100.0, 101.0, 103.0, 1e-8, 1e9]),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
)


@st.composite
def rows(draw: st.DrawFn, size: int, days: int) -> list[Row]:
    found = draw(
        st.lists(
            st.tuples(
                st.sampled_from(SOURCES),
                st.sampled_from(ASSET_IDS),
                st.sampled_from(("a", "b")),
                _offsets(days),
                _VALUES,
            ),
            max_size=size,
        )
    )
    return [Row(s, f"{a}~{r}", T0 + offset, v) for s, a, r, offset, v in found]


@dataclass(frozen=True)
class Scenario:
    loads: list[list[Row]]
    prune_after: int | None
    """Prune records older than ``T0 + prune_after`` hours after the loads, when given."""


@st.composite
def scenarios(draw: st.DrawFn, size: int = 40, days: int = 21) -> Scenario:
    """Loads of up to ``size`` rows stamped within ``days`` of T0, corrections, a prune."""
    first = draw(rows(size, days))
    # Late corrections: rows of the first load again with other values, plus new rows.
    again = [
        Row(row.source, row.record_id, row.timestamp, draw(_VALUES))
        for row in draw(st.lists(st.sampled_from(first), max_size=5) if first else st.just([]))
    ]
    more = draw(rows(size // 2, days))
    prune_after = draw(st.none() | st.integers(0, days * 24))
    return Scenario([first, again + more], prune_after)


class Model:
    """The rows the store holds after a scenario, keyed as ``records`` is."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, datetime], Row] = {}

    def load(self, batch: Iterable[Row]) -> None:
        for row in batch:
            self.rows[(row.source, row.record_id, row.timestamp)] = row

    def prune(self, cutoff: datetime) -> None:
        self.rows = {key: row for key, row in self.rows.items() if row.timestamp >= cutoff}


def _staged(row: Row) -> StagedRow:
    asset_id = row.asset_id
    return StagedRow(
        row.record_id,
        row.timestamp.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"),
        asset_id,
        symbol_of(asset_id),
        asset_id.title(),
        row.value,
        None,
        None,
    )


def apply(engine: Engine, scenario: Scenario) -> Model:
    """Empty the store, write ``scenario`` into it; return the model of what it holds."""
    now = datetime.now(UTC)
    model = Model()
    with engine.begin() as conn:
        for table in (latest_records, records, asset_aliases, assets):
            conn.execute(delete(table))
        conn.execute(
            insert(assets),
            [
                {"id": a, "symbol": symbol_of(a), "name": a.title(), "created_at": now}
                for a in ASSET_IDS
            ],
        )
        conn.execute(
            insert(asset_aliases),
            [
                {
                    "source": source,
                    "record_id": f"{a}~{r}",
                    "asset_id": a,
                    "method": "seed",
                    "created_at": now,
                }
                for source in SOURCES
                for a in ASSET_IDS
                for r in ("a", "b")
            ],
        )
        latest.bump(conn)
    for batch in scenario.loads:
        with engine.begin() as conn:
            for source in SOURCES:
                # One row per key and load, the last one given (as the ETL's batches are).
                unique = {
                    (row.record_id, row.timestamp): row for row in batch if row.source == source
                }
                staged = [_staged(row) for row in unique.values()]
                upsert_records(conn, source, staged, 1, now)
                newest = latest.Newest()
                newest.add(staged)
                newest.upsert(conn, source)
        model.load(batch)
    if scenario.prune_after is not None:
        cutoff = T0 + timedelta(hours=scenario.prune_after)
        prune(engine, cutoff, tables=("records",))
        model.prune(cutoff)
    return model
