"""The change feed: one per serving process, fanned out in memory to its subscribers.

The process learns that the store changed, reads what changed once, and hands it to every
matching subscriber (``gql.fanout``); no subscriber reads the database.

- **Waking**: on PostgreSQL one ``LISTEN`` connection per process (``Listener``, a thread
  blocked in ``select``) hears the notifications the writers send in their transactions
  (``db.changes``), delivered only on commit. When it is lost (a database restart, a
  terminated backend) it reconnects with a doubling backoff (0.1 s up to
  SUBSCRIPTION_RECONNECT_MAX_SECONDS) and wakes the feed once connected: the reading that
  follows compares the counter with the one held, so nothing that committed while it was
  away is missed. On SQLite, which has no notifications, the feed reads every
  SUBSCRIPTION_POLL_SECONDS.
- **Reading** (one connection, in a worker thread): the ``latest_version`` counter and,
  when it moved, every newest price (``db.latest_cache``); the runs newer than the newest
  seen and those still followed (``db.changes.run_states``).
- **Diffing**: ``priceChanges`` gets one value per (asset, source) whose newest price
  (value, timestamp or record) differs from the previous reading; ``etlRunEvents`` gets a
  run when it or one of its sources started or ended at once, and its progress at most
  once per SUBSCRIPTION_PROGRESS_SECONDS.

The feed lives as long as the application (``ChangeFeed.running``) but reads the store
only while someone subscribes: the first subscriber waits for a first reading (``joining``)
and hears of every (asset, source) whose newest price changes after it (two loads committed
between two readings arrive as one event, with the newer price); once the last one leaves,
what was read is
dropped. The ``LISTEN`` connection opens with the first subscriber and stays. A reading is
cheap: one primary-key row and an indexed range of ``etl_runs``; the prices are read again
only when the counter moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from kasparro.db import changes
from kasparro.db.changes import RunState
from kasparro.db.latest_cache import Prices, PricesCache
from kasparro.db.outcomes import RunStatus
from kasparro.db.queries import LatestPrice
from kasparro.gql.dbcall import run_db
from kasparro.gql.fanout import Fanout
from kasparro.gql.live_config import SubscriptionConfig

log = logging.getLogger(__name__)

LISTENER_NAME = "kasparro-listen"
"""``application_name`` of the ``LISTEN`` connections (as seen in ``pg_stat_activity``)."""
FIRST_RETRY_SECONDS = 0.1
"""The first wait before reconnecting or reading again after a failure; it doubles."""


@dataclass(frozen=True, slots=True)
class PriceFilter:
    """What a ``priceChanges`` subscription asked for (empty: any)."""

    asset_ids: frozenset[str] = frozenset()
    symbols: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()

    def matches(self, row: LatestPrice) -> bool:
        return (
            (not self.asset_ids or row.asset_id in self.asset_ids)
            and (not self.symbols or row.asset_symbol in self.symbols)
            and (not self.sources or row.source in self.sources)
        )

    def index(self) -> list[Hashable] | None:
        """The keys (``price_index_keys``) of the filter's narrowest kind; None with none."""
        if self.asset_ids:
            return [("asset", value) for value in self.asset_ids]
        if self.symbols:
            return [("symbol", value) for value in self.symbols]
        if self.sources:
            return [("source", value) for value in self.sources]
        return None


def price_index_keys(row: LatestPrice) -> tuple[Hashable, ...]:
    """A price's keys for ``PriceFilter.index``: one of each kind."""
    return (("asset", row.asset_id), ("symbol", row.asset_symbol), ("source", row.source))


def price_key(row: LatestPrice) -> Hashable:
    return (row.asset_id, row.source)


def run_key(state: RunState) -> Hashable:
    run_id: int = state.run.id
    return run_id


def _run_matches(run_id: int | None, state: RunState) -> bool:
    return run_id is None or state.run.id == run_id


def _run_index(run_id: int | None) -> list[Hashable] | None:
    return None if run_id is None else [run_id]


def _run_keys(state: RunState) -> tuple[Hashable, ...]:
    return (state.run.id,)


@dataclass(slots=True)
class _Followed:
    signature: tuple[object, ...]
    stage: tuple[object, ...]
    sent: float
    owed: RunState | None = None


@dataclass(frozen=True, slots=True)
class _Reading:
    prices: Prices
    runs: list[RunState]
    newest_run: int


@dataclass(slots=True)
class _Runs:
    """What the feed knows of the run log between readings."""

    newest: int | None = None
    followed: dict[int, _Followed] = field(default_factory=dict)


class ChangeFeed:
    """The process's change feed (see the module docstring)."""

    def __init__(self, engine: Engine, config: SubscriptionConfig) -> None:
        self.engine = engine
        self.config = config
        self.prices: Fanout[LatestPrice, PriceFilter] = Fanout(
            PriceFilter.matches, PriceFilter.index, price_index_keys
        )
        self.runs: Fanout[RunState, int | None] = Fanout(_run_matches, _run_index, _run_keys)
        self.readings = 0
        """How many times the store was read (a figure for tests and benchmarks)."""
        self.delivered = 0
        """Values handed to subscribers so far."""
        self._cache = PricesCache()
        self._kept: Prices | None = None
        self._last: dict[Hashable, LatestPrice] | None = None
        self._runs = _Runs()
        self._wake = asyncio.Event()
        self._demand = asyncio.Event()
        self._joining = 0
        self._listener: Listener | None = None
        self.ready = asyncio.Event()
        """Set once the first reading is held: changes after it reach subscribers."""

    def __len__(self) -> int:
        """Subscriptions held now."""
        return len(self.prices) + len(self.runs)

    @property
    def held(self) -> int:
        """Subscriptions held or joining (SUBSCRIPTION_MAX_PER_PROCESS bounds it)."""
        return len(self) + self._joining

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ChangeFeed]:
        """Run the feed until the block ends (it reads only while someone subscribes)."""
        task = asyncio.create_task(self._loop(), name="change-feed")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self._listener is not None:
                await asyncio.to_thread(self._listener.stop)

    @contextlib.asynccontextmanager
    async def joining(self) -> AsyncIterator[None]:
        """Wait for the feed to hold a reading (a subscription then hears of every price
        that changes after it, as of each reading); the caller then adds itself to
        ``prices`` or ``runs``."""
        self._joining += 1
        self._demand.set()
        try:
            await self.ready.wait()
            yield
        finally:
            self._joining -= 1

    def _signal(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody to wake
                loop.call_soon_threadsafe(self._wake.set)

        return wake

    def _listening(self) -> bool:
        """Start the ``LISTEN`` thread on PostgreSQL (once); whether there is one."""
        if self.engine.dialect.name != "postgresql":
            return False
        if self._listener is None:
            loop = asyncio.get_running_loop()
            self._listener = Listener(self.engine, self.config.reconnect_max, self._signal(loop))
            self._listener.start()
        return True

    def _forget(self) -> None:
        """Nobody subscribes: drop what was read (the next subscriber starts afresh)."""
        self.ready.clear()
        self._kept, self._last, self._runs = None, None, _Runs()

    async def _loop(self) -> None:
        retry = FIRST_RETRY_SECONDS
        while True:
            if not len(self) and not self._joining:
                self._forget()
                self._demand.clear()
                await self._demand.wait()
            notified = self._listening()
            self._wake.clear()
            runs = self._runs
            try:
                reading = await run_db(self.engine, self._read, runs.newest, tuple(runs.followed))
            except SQLAlchemyError as exc:
                if retry == FIRST_RETRY_SECONDS:
                    log.warning("change feed cannot read the store: %s", _first_line(exc))
                await asyncio.sleep(retry)
                retry = min(retry * 2, self.config.reconnect_max)
                continue
            if retry != FIRST_RETRY_SECONDS:
                log.info("change feed reads the store again")
            retry = FIRST_RETRY_SECONDS
            self._apply(reading, time.monotonic())
            self.ready.set()
            await self._wait(notified)

    async def _wait(self, notified: bool) -> None:
        due = self._owed_in(time.monotonic())
        if not notified:
            poll = self.config.poll_interval
            await asyncio.sleep(poll if due is None else min(poll, due))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=due)

    def _owed_in(self, now: float) -> float | None:
        """Seconds until a run's held-back progress is due, None when none is."""
        dues = [
            followed.sent + self.config.progress_interval - now
            for followed in self._runs.followed.values()
            if followed.owed is not None
        ]
        return max(0.0, min(dues)) if dues else None

    def _read(self, conn: Connection, newest: int | None, followed: tuple[int, ...]) -> _Reading:
        """One reading of the store (in a worker thread; changes nothing of the feed)."""
        self.readings += 1
        prices = self._cache.read(conn)
        if newest is None:  # the first reading: runs from now on, and those still running
            newest = changes.newest_run_id(conn)
            followed = tuple(changes.running_ids(conn))
        states = changes.run_states(conn, newest, followed)
        return _Reading(prices, states, max([newest, *(s.run.id for s in states)]))

    def _apply(self, reading: _Reading, now: float) -> None:
        """Diff a reading against the previous one and hand out what changed."""
        if reading.prices is not self._kept:
            current = {price_key(row): row for row in reading.prices.rows}
            if self._last is not None:
                before = self._last
                moved = [row for key, row in current.items() if before.get(key) != row]
                self.delivered += self.prices.publish(moved, now)
            self._kept, self._last = reading.prices, current
        self._apply_runs(reading, now)

    def _apply_runs(self, reading: _Reading, now: float) -> None:
        runs = self._runs
        interval = self.config.progress_interval
        for state in reading.runs:
            run_id: int = state.run.id
            signature, stage = state.signature(), state.stage()
            held = runs.followed.get(run_id)
            if held is not None and held.signature == signature:
                if held.owed is None or now - held.sent < interval:
                    continue
                state = held.owed
            elif held is not None and held.stage == stage and now - held.sent < interval:
                held.signature, held.owed = signature, state
                continue
            self.delivered += self.runs.publish([state], now)
            runs.followed[run_id] = _Followed(signature, stage, now)
        runs.newest = reading.newest_run
        for run_id, held in list(runs.followed.items()):
            state_status = held.stage[0]
            if state_status != RunStatus.RUNNING and held.owed is None:
                del runs.followed[run_id]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Listener:
    """The process's ``LISTEN`` connection to PostgreSQL, in a thread of its own.

    Calls ``wake`` for each burst of notifications and after each (re)connection; a lost
    connection is reconnected with a doubling backoff capped at ``reconnect_max`` seconds.
    """

    def __init__(self, engine: Engine, reconnect_max: float, wake: Callable[[], None]) -> None:
        self._connect_args = engine.dialect.create_connect_args(engine.url)
        self._reconnect_max = reconnect_max
        self._wake = wake
        self._stop_read, self._stop_write = os.pipe()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="change-listener", daemon=True)
        self.connections = 0
        """How many times it connected (a figure for tests)."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        os.write(self._stop_write, b"x")
        self._thread.join(timeout=self._reconnect_max + 5)
        os.close(self._stop_read)
        os.close(self._stop_write)

    def _run(self) -> None:
        retry = FIRST_RETRY_SECONDS
        while not self._stopping.is_set():
            try:
                self._listen()
                retry = FIRST_RETRY_SECONDS
            except psycopg2.Error as exc:
                log.warning(
                    "change listener lost its database connection (retrying in %.1f s): %s",
                    retry,
                    _first_line(exc),
                )
            select.select([self._stop_read], [], [], retry)
            retry = min(retry * 2, self._reconnect_max)

    def _listen(self) -> None:
        args, kwargs = self._connect_args
        kwargs = {
            **kwargs,
            "connect_timeout": max(1, round(self._reconnect_max)),
            "application_name": LISTENER_NAME,
        }
        conn = psycopg2.connect(*args, **kwargs)
        try:
            conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
            with conn.cursor() as cursor:
                cursor.execute(f"LISTEN {changes.CHANNEL}")
            self.connections += 1
            if self.connections > 1:
                log.info("change listener connected again; reading what changed meanwhile")
            self._wake()  # what committed before LISTEN (or while disconnected) is read now
            while not self._stopping.is_set():
                ready, _, _ = select.select([conn, self._stop_read], [], [])
                if conn in ready:
                    conn.poll()
                    if conn.notifies:
                        conn.notifies.clear()
                        self._wake()
        finally:
            with contextlib.suppress(psycopg2.Error):
                conn.close()
