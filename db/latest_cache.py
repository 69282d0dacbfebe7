"""The latest prices, read once per change of the store and kept in the serving process.

Building the answer of ``latestPrices`` costs the same whatever the size of ``records``
(``db.queries.latest_prices`` reads ``latest_records``), but it is a few thousand rows to
fetch and encode on every request, while the rows change only when a load, a prune or a
rebuild commits. ``PricesCache`` keeps the last full answer with the ``latest_version``
counter read before it, and reads the counter again on each request (one primary-key row):

- the counter is read first, then the rows: a change committed between the two reads moved
  the counter past what is kept, so the next request reads again; never the other way round
  (rows older than the counter they are kept with);
- the same counter: the kept rows are the answer (filtered by asset or symbol in Python,
  which picks the same rows in the same order as the filtered query);
- a different counter, or none (no row, or a read store without the table, such as a copy
  taken before migration 0004): read again. A filtered request that finds nothing kept runs
  the filtered query and keeps nothing, so a single-asset lookup never pays for all assets.

The counter is compared as ``(version, token)`` (``db.latest.Version``): the token is new at
every change, so a store restored from a backup, whose number counts up again from an older
value, never matches an answer kept before the restore.

``memo`` holds what callers build from one kept answer (the compiled path's JSON text per
selection shape); it goes with the rows it was built from. Worker threads share one cache
without a lock: the kept answer is replaced by one assignment, and should a slow reader of
an older counter replace a newer answer, the next request only reads again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError

from kasparro.db import latest, queries
from kasparro.db.latest import Version
from kasparro.db.queries import LatestPrice

MEMO_ENTRIES = 16
"""At most this many built answers per kept answer (one per selection shape)."""


@dataclass(frozen=True)
class Prices:
    """One answer: its rows, and a memo when they are the kept full answer (else None)."""

    rows: list[LatestPrice]
    memo: dict[object, str] | None = field(default=None, compare=False)

    def built(self, key: object, build: Callable[[list[LatestPrice]], str]) -> str:
        """``build(rows)``, kept under ``key`` with a kept answer (at most ``MEMO_ENTRIES``
        keys, should a client keep varying its selection)."""
        if self.memo is None:
            return build(self.rows)
        text = self.memo.get(key)
        if text is None:
            text = build(self.rows)
            if len(self.memo) < MEMO_ENTRIES:
                self.memo[key] = text
        return text


class PricesCache:
    """The full ``latest_prices`` answer of one store, kept while ``latest_version`` holds."""

    def __init__(self) -> None:
        self._kept: tuple[Version, Prices] | None = None
        self.reads = 0
        """How many times rows were read from the store rather than from the kept answer
        (a figure for tests and benchmarks; not counted atomically across threads)."""

    def read(
        self, conn: Connection, asset_ids: Sequence[str] = (), symbols: Sequence[str] = ()
    ) -> Prices:
        """``db.queries.latest_prices(conn, asset_ids, symbols)``, from the kept answer when
        the store has not changed since it was read."""
        try:
            version = latest.version(conn)
        except (OperationalError, ProgrammingError):  # no table: a read store behind 0004
            conn.rollback()
            version = None
        held = self._kept
        if held is None or version is None or held[0] != version:
            self.reads += 1
            if asset_ids or symbols or version is None:
                return Prices(queries.latest_prices(conn, asset_ids, symbols))
            held = self._kept = (version, Prices(queries.latest_prices(conn), {}))
        kept = held[1]
        if not asset_ids and not symbols:
            return kept
        ids, wanted = set(asset_ids), set(symbols)
        return Prices(
            [
                row
                for row in kept.rows
                if (not ids or row.asset_id in ids) and (not wanted or row.asset_symbol in wanted)
            ]
        )
