"""A run's bookkeeping writes, retried within a bound, and what is still owed to the database.

A run records itself in ``etl_runs`` / ``etl_run_sources`` as it goes. When the database
refuses those writes (another process holds SQLite's write lock, PostgreSQL is restarting)
the run must still end with a true status, in bounded time:

- ``Bookkeeper.write`` runs one bookkeeping write in a short transaction whose lock waits
  are bounded (``db.engine.bounded_transaction``), and retries it with a backoff while the
  run's budget (ETL_BOOKKEEPING_TIMEOUT_SECONDS, spent only by failing attempts) lasts; at
  most one second per attempt once the run was asked to stop, so a server shutting down
  keeps to its grace period. Errors other than an unavailable or locked database are bugs
  and are raised.
- What could not be written is owed: a source's end (``owe_source``), then the run's
  ``RunFinal``, which ``RunLedger`` keeps in the process. The ledger writes it as soon as it
  can: before the next run of this process takes the ETL lock's place in the table, every
  few seconds in the server's background, and at shutdown (``close_out``), so the run's
  row is not left ``running`` for the next run to call "interrupted". At shutdown the
  ledger also ends any run this process started that is still in flight as failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from kasparro.db import runs
from kasparro.db.engine import bounded_transaction, is_unavailable
from kasparro.db.outcomes import RunStatus
from kasparro.db.runs import RunFinal, SourceFinal

log = logging.getLogger(__name__)

STOPPING_ATTEMPT_SECONDS = 1.0
"""Longest lock wait of one attempt once the run was asked to stop."""


def first_line(exc: BaseException) -> str:
    """The database's own message, first line (SQLAlchemy's wrapper adds SQL and a link)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Bookkeeper:
    """The bookkeeping writes of one run, within one budget (see the module docstring)."""

    def __init__(self, engine: Engine, budget_seconds: float, stop: threading.Event) -> None:
        self._engine = engine
        self._budget = budget_seconds
        self._stop = stop
        self._owed: list[SourceFinal] = []

    @property
    def owed_sources(self) -> tuple[SourceFinal, ...]:
        return tuple(self._owed)

    def owe_source(self, final: SourceFinal) -> None:
        """A source's end that could not be written; it goes with the run's end."""
        self._owed.append(final)

    def write(self, what: str, write: Callable[[Connection], object]) -> bool:
        """Run ``write`` in a bounded transaction until it commits or the budget is spent;
        False when it could not be written."""
        attempt = 0
        while self._budget > 0:
            stopping = self._stop.is_set()
            seconds = min(self._budget, STOPPING_ATTEMPT_SECONDS) if stopping else self._budget
            started = time.monotonic()
            try:
                with bounded_transaction(self._engine, seconds) as conn:
                    write(conn)
                return True
            except SQLAlchemyError as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("could not record %s: %s", what, first_line(exc))
            self._budget -= time.monotonic() - started
            pause = max(0.0, min(0.2 * 2**attempt, self._budget))
            time.sleep(pause)
            self._budget -= pause
            attempt += 1
        return False


class RunLedger:
    """The runs this process started that the database does not show as ended yet.

    Thread-safe: runs end in worker threads, the server settles from its event loop's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._owed: dict[int, RunFinal] = {}

    @property
    def owes(self) -> bool:
        with self._lock:
            return bool(self._owed)

    def started(self, run_id: int) -> None:
        with self._lock:
            self._in_flight.add(run_id)

    def ended(self, run_id: int) -> None:
        """The run's end is in the database."""
        with self._lock:
            self._in_flight.discard(run_id)

    def owe(self, final: RunFinal) -> None:
        """The run ended, but the database would not take its end yet."""
        with self._lock:
            self._in_flight.discard(final.run_id)
            self._owed[final.run_id] = final

    def settle(self, engine: Engine, seconds: float) -> bool:
        """Write every owed end (each in a transaction bounded by ``seconds``); True when
        nothing is owed any more."""
        with self._lock:
            owed = list(self._owed.values())
        for final in owed:
            try:
                with bounded_transaction(engine, seconds) as conn:
                    recorded = runs.record_final(conn, final)
            except SQLAlchemyError as exc:
                if not is_unavailable(exc):
                    raise
                log.warning(
                    "ETL run %d still not recorded as %s: %s",
                    final.run_id,
                    final.status,
                    first_line(exc),
                    extra={"run_id": final.run_id},
                )
                return False
            with self._lock:
                self._owed.pop(final.run_id, None)
            outcome = "recorded late" if recorded else "already ended by another process"
            log.info(
                "ETL run %d (%s) %s",
                final.run_id,
                final.status,
                outcome,
                extra={"run_id": final.run_id, "status": final.status},
            )
        return True

    def close_out(self, engine: Engine, seconds: float, reason: str) -> None:
        """At shutdown: end runs still in flight as failed with ``reason``, write all that
        is owed, and say in the log what could not be written."""
        now = datetime.now(UTC)
        with self._lock:
            for run_id in self._in_flight:
                self._owed.setdefault(run_id, RunFinal(run_id, RunStatus.FAILED, reason, now))
            self._in_flight.clear()
        if not self.settle(engine, seconds):
            with self._lock:
                left = sorted(self._owed)
            log.error(
                "ETL run(s) %s left running: the database did not accept their end before "
                "shutdown; the next run will mark them interrupted",
                ", ".join(map(str, left)),
            )
