"""The health report that both GraphQL ``health`` and ``GET /health`` return.

``HealthProbe`` asks each database through an engine of its own (``gql.engines``: a small
pool with short timeouts, HEALTH_TIMEOUT_SECONDS) in worker threads of its own (an anyio
capacity limiter), so neither request traffic holding every pooled connection nor every
default worker thread can make ``/health`` wait or fail. Concurrent checks share the one
in flight.

Per database: ``SELECT 1`` (reachable, else ``error``), then on the primary the newest
run's status, then one row of every served table (``db.probe``). A statement or lock wait
past its timeout means the database is reachable but slow (a table locked by another
session, an overloaded server): ``db`` stays ``ok`` and ``slow`` is true, and the answer
stays 200 (docs/operations.md): every replica shares the database, so pulling them all from a
load balancer cannot help, while requests themselves fail fast with 504 and Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from anyio import CapacityLimiter, to_thread
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from kasparro.db import queries
from kasparro.db.engine import is_timeout
from kasparro.db.probe import touch_served_tables

log = logging.getLogger(__name__)

T = TypeVar("T")

THREADS = 2
"""Worker threads kept for health checks (one check runs at a time; it may ask two
databases)."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    """``db``: the primary (DATABASE_URL); ``read_db``: the read database (DATABASE_READ_URL),
    None when there is no separate one. Healthy when every configured database answers;
    ``slow`` when one answered but a probe ran out of its timeout."""

    db: str
    etl_last_run: str
    database: str
    detail: str | None
    read_db: str | None = None
    slow: bool = False

    @property
    def healthy(self) -> bool:
        return self.db == "ok" and self.read_db in (None, "ok")


@dataclass(frozen=True, slots=True)
class _Finding:
    """One database examined: reachable, slow, its newest run, and why not (for the log)."""

    reachable: bool
    slow: bool = False
    last_run: str = "unknown"
    problem: str | None = None


def _problem(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def _bounded(conn: Connection, probe: Callable[[Connection], T]) -> tuple[bool, T | None]:
    """(True, ``probe(conn)``); (False, None) when it ran out of its timeout. Another error
    (a permission taken away, say) is logged and counts as no delay: ``/health`` reports
    reachability and delay, the requests concerned fail with their own errors."""
    try:
        return True, probe(conn)
    except SQLAlchemyError as exc:
        log.warning("health check: %s: %s", probe.__name__, _problem(exc))
        conn.rollback()
        return not is_timeout(exc), None


def _examine(engine: Engine, with_status: bool) -> _Finding:
    try:
        with engine.connect() as conn:
            queries.ping(conn)
            conn.rollback()
            status_read, last_run = (
                _bounded(conn, queries.etl_last_run_status) if with_status else (True, None)
            )
            touched, _ = _bounded(conn, touch_served_tables)
    except SQLAlchemyError as exc:
        # A timeout here is SELECT 1's own or the pool's: reachable, but slow.
        return _Finding(is_timeout(exc), is_timeout(exc), problem=_problem(exc))
    return _Finding(True, not (status_read and touched), last_run or "unknown")


class HealthProbe:
    """Checks the primary (and the read database, when separate) for ``/health``.

    ``engine`` and ``read_engine`` are the health engines (``gql.engines``); ``debug``
    (DEBUG) adds the database's own error text to ``detail``, which otherwise only says
    which database is unreachable (host, port and paths stay in the log).
    """

    def __init__(self, engine: Engine, read_engine: Engine | None, *, debug: bool) -> None:
        self._engine = engine
        self._read_engine = read_engine
        self._debug = debug
        self._limiter = CapacityLimiter(THREADS)
        self._pending: asyncio.Future[HealthReport] | None = None

    async def check(self) -> HealthReport:
        """The report of the check in flight, or of a new one."""
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._check())
        return await asyncio.shield(self._pending)

    async def _check(self) -> HealthReport:
        primary = await to_thread.run_sync(_examine, self._engine, True, limiter=self._limiter)
        read = None
        if self._read_engine is not None:
            read = await to_thread.run_sync(
                _examine, self._read_engine, False, limiter=self._limiter
            )
        details = [
            self._detail(what, finding)
            for what, finding in (("database", primary), ("read database", read))
            if finding is not None and (not finding.reachable or finding.slow)
        ]
        return HealthReport(
            db="ok" if primary.reachable else "error",
            etl_last_run=primary.last_run,
            database=self._engine.dialect.name,
            detail="; ".join(details) or None,
            read_db=None if read is None else ("ok" if read.reachable else "error"),
            slow=primary.slow or (read is not None and read.slow),
        )

    def _detail(self, what: str, finding: _Finding) -> str:
        """What the client is told: a few generic words unless DEBUG."""
        words = f"{what} {'slow' if finding.reachable else 'unreachable'}"
        if finding.problem is not None:
            log.warning("health check: %s: %s", words, finding.problem)
        return f"{words}: {finding.problem}" if self._debug and finding.problem else words
