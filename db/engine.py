"""Engine factory: SQLite with WAL and sane pragmas, PostgreSQL with a pre-pinged pool.

Each engine can bound how long one statement runs and how long it waits for a lock
(``Timeouts``), so a database that hangs instead of refusing (a table locked by another
session, a writer holding SQLite's lock) fails a call in bounded time. PostgreSQL gets
``statement_timeout`` and ``lock_timeout`` on every connection (the ``options`` startup
parameter: no extra round trip, and a ``SET`` could be rolled back). SQLite gets its busy
timeout from the lock bound, and a statement bound through a progress handler that
interrupts a statement running past it. The errors they raise are recognised by
``is_timeout``.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2
import sqlalchemy.exc
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""SQLite's busy timeout when no lock bound is given (the command line's engines)."""

PROGRESS_STEPS = 1000
"""SQLite virtual machine steps between two checks of a statement's deadline."""

_DEADLINE = "kasparro_deadline"
SPARED = "kasparro_spared"
"""Set in a connection's ``info`` while ``bounded_transaction`` uses it: a
``db.cancel.StatementCanceller`` leaves its statements alone."""
_PG_TIMEOUTS = ("57014", "55P03")  # query_canceled (statement_timeout), lock_not_available
_SQLITE_TIMEOUTS = ("database is locked", "database table is locked", "interrupted")
_SQLITE_UNAVAILABLE = (*_SQLITE_TIMEOUTS, "unable to open database", "disk i/o error")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-statement bounds of an engine's connections, in seconds; None: unbounded.

    ``statement``: how long one statement may run (PostgreSQL ``statement_timeout``; SQLite
    through a progress handler). ``lock``: how long it may wait for a lock (PostgreSQL
    ``lock_timeout``; SQLite's busy timeout).
    """

    statement: float | None = None
    lock: float | None = None


def _driver_error(exc: BaseException | None) -> BaseException | None:
    """The driver's exception: SQLAlchemy's ``orig``, or ``exc`` itself when the code used
    the driver directly (``COPY``, ``executemany`` on a raw cursor)."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return exc.orig
    return exc


def is_timeout(exc: BaseException | None) -> bool:
    """True when ``exc`` is a statement or lock that ran out of its ``Timeouts`` (or was
    cancelled), or no pooled connection came free within the pool timeout."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return True
    orig = _driver_error(exc)
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).lower().startswith(_SQLITE_TIMEOUTS)
    return isinstance(orig, psycopg2.OperationalError) and orig.pgcode in _PG_TIMEOUTS


def is_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` says the database cannot serve now (locked, timed out, cancelled,
    unreachable, connection lost), as opposed to a bug in what was asked of it."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = _driver_error(exc)
    if isinstance(orig, sqlite3.OperationalError):  # also "no such table": a bug
        return str(orig).lower().startswith(_SQLITE_UNAVAILABLE)
    return isinstance(orig, psycopg2.OperationalError | psycopg2.InterfaceError)


def _milliseconds(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _sqlite_pragmas(busy_ms: int) -> Any:
    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        finally:
            cursor.close()

    return set_pragmas


def _sqlite_statement_bound(engine: Engine, seconds: float) -> None:
    """Interrupt a statement (and the reading of its rows) ``seconds`` after it started."""

    def install(dbapi_connection: Any, record: Any) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        info = record.info

        def past_deadline() -> int:
            deadline = info.get(_DEADLINE)
            return 1 if deadline is not None and time.monotonic() > deadline else 0

        dbapi_connection.set_progress_handler(past_deadline, PROGRESS_STEPS)

    def arm(conn: Any, *_: Any) -> None:
        conn.info[_DEADLINE] = time.monotonic() + seconds  # the pool record's info

    event.listen(engine, "connect", install)
    event.listen(engine, "before_cursor_execute", arm)


def create_db_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    pool_timeout: float = 10.0,
    connect_timeout: float = 5.0,
    timeouts: Timeouts | None = None,
    echo: bool = False,
    application_name: str = "kasparro",
) -> Engine:
    """Build the engine for ``url``; the caller owns it and disposes of it.

    The pool keeps ``pool_size`` connections and opens up to ``max_overflow`` more (default:
    as many again); a caller waits at most ``pool_timeout`` for one. ``timeouts`` bound each
    statement (see ``Timeouts``). ``application_name`` labels PostgreSQL connections
    (``pg_stat_activity``).
    """
    timeouts = timeouts or Timeouts()
    overflow = pool_size if max_overflow is None else max_overflow
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; this service ships psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if parsed.get_backend_name() == "sqlite":
        busy_ms = (
            _milliseconds(timeouts.lock) if timeouts.lock is not None else SQLITE_BUSY_TIMEOUT_MS
        )
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
        # A file gets a QueuePool; an in-memory database SQLAlchemy's one-per-thread pool.
        pool: dict[str, Any] = (
            {}
            if in_memory
            else {"pool_size": pool_size, "max_overflow": overflow, "pool_timeout": pool_timeout}
        )
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_ms / 1000},
            pool_pre_ping=False,
            **pool,
        )
        event.listen(engine, "connect", _sqlite_pragmas(busy_ms))
        if timeouts.statement is not None:
            _sqlite_statement_bound(engine, timeouts.statement)
        return engine
    options = []
    if timeouts.statement is not None:
        options.append(f"-c statement_timeout={_milliseconds(timeouts.statement)}")
    if timeouts.lock is not None:
        options.append(f"-c lock_timeout={_milliseconds(timeouts.lock)}")
    connect_args: dict[str, Any] = {
        # libpq waits whole seconds, at least 2.
        "connect_timeout": max(2, math.ceil(connect_timeout)),
        "application_name": application_name,
    }
    if options:
        connect_args["options"] = " ".join(options)
    return create_engine(
        parsed,
        echo=echo,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=connect_args,
    )


@contextlib.contextmanager
def bounded_transaction(engine: Engine, seconds: float) -> Iterator[Connection]:
    """A transaction whose statements wait at most ``seconds`` for a lock and run at most
    ``seconds`` each (PostgreSQL ``SET LOCAL``; SQLite's busy timeout, put back after),
    committed when the block ends. Statement cancellers spare it (``SPARED``)."""
    milliseconds = _milliseconds(seconds)
    with engine.connect() as conn:
        conn.info[SPARED] = True
        sqlite_busy: int | None = None
        try:
            if is_postgresql(engine):
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
            else:
                sqlite_busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {milliseconds}")
            yield conn
            conn.commit()
        finally:
            conn.info.pop(SPARED, None)
            if sqlite_busy is not None:
                conn.rollback()
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {sqlite_busy}")


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
