"""Cancel the statements running on an engine, from another thread.

A run blocked in a statement (a ``COPY`` waiting for a table another session locked) does
not see a stop request until the statement ends. ``StatementCanceller`` knows the engine's
checked-out connections (pool events) and cancels what each one runs: psycopg2's
``cancel()`` (a PostgreSQL cancel request; the statement fails with "canceling statement due
to user request"), sqlite3's ``interrupt()`` (the statement fails "interrupted"). SQLite
cannot cut short a statement waiting for another process's write lock: that wait still
ends at the busy timeout. Connections inside ``db.engine.bounded_transaction`` (a run's
bookkeeping) are spared.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event

from kasparro.db.engine import SPARED


class StatementCanceller:
    """Cancels, on request, the statements of ``engine``'s checked-out connections."""

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        self._out: dict[int, tuple[Any, dict[Any, Any]]] = {}
        event.listen(engine, "checkout", self._checked_out)
        event.listen(engine, "checkin", self._checked_in)

    def _checked_out(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        with self._lock:
            self._out[id(dbapi_connection)] = (dbapi_connection, record.info)

    def _checked_in(self, dbapi_connection: Any, _record: Any) -> None:
        with self._lock:
            self._out.pop(id(dbapi_connection), None)

    def cancel_all(self) -> int:
        """Cancel what every checked-out, unspared connection runs; return how many were
        asked (a connection running nothing ignores it)."""
        with self._lock:
            targets = [conn for conn, info in self._out.values() if not info.get(SPARED)]
        for connection in targets:
            if isinstance(connection, sqlite3.Connection):
                connection.interrupt()
            else:
                connection.cancel()
        return len(targets)
