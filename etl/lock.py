"""The ETL lock: at most one run at a time per database.

PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a dedicated connection held
for the whole run; it is released by ``pg_advisory_unlock`` or, if the process dies, by the
server when the connection drops.

SQLite: an exclusive ``flock`` on ``<database file>.etl-lock`` beside the database. It covers
every process and thread on one host (each ``EtlLock`` opens the file anew, and ``flock``
locks per open file), and the kernel releases it when a process dies. SQLite files are not
shared between hosts, so that is the whole scope. An in-memory database has no lock.
"""

from __future__ import annotations

import fcntl
from types import TracebackType
from typing import IO

from sqlalchemy import Connection, Engine

ADVISORY_KEY = 4242003
"""The advisory lock id of the ETL (``db.migrate`` uses 4242001)."""


class EtlLock:
    """``with EtlLock(engine) as held:`` — ``held`` is False when another run has it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._file: IO[bytes] | None = None

    def __enter__(self) -> bool:
        if self._engine.dialect.name == "postgresql":
            connection = self._engine.connect()
            held = bool(
                connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({ADVISORY_KEY})").scalar()
            )
            connection.commit()
            if not held:
                connection.close()
                return False
            self._connection = connection
            return True
        database = self._engine.url.database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return True
        handle = open(f"{database}.etl-lock", "ab")  # held until __exit__
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            try:
                self._connection.exec_driver_sql(f"SELECT pg_advisory_unlock({ADVISORY_KEY})")
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
