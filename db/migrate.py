"""Apply the Alembic migrations that ship inside the ``db`` package."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

HEAD = "0005"
"""The newest revision under ``migrations/versions`` (a test holds it equal to Alembic's
head). A store already there is recognised with one ``SELECT``, without importing Alembic:
a quarter of a second of every ``kasparro etl`` start (the whole of an unchanged re-run is
under a second)."""


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the database up to ``revision``; return the revision it is at afterwards.

    Concurrent migrators (several replicas or commands starting at once) are serialised: on
    PostgreSQL by an advisory transaction lock, on a SQLite file by an exclusive ``flock`` on
    ``<database>.migrate-lock`` (without it, two processes migrating a new file at once both
    created the tables and one failed with "table … already exists"). A store already at
    ``HEAD`` returns at once.
    """
    # On SQLite the check waits for the file lock too: a new file's first connection sets
    # WAL mode, which fails with "database is locked" while another process migrates it.
    with _sqlite_file_lock(engine):
        if revision in ("head", HEAD) and stored_revision(engine) == HEAD:
            return HEAD
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        with engine.begin() as connection, _one_sqlite_transaction(connection):
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            command.upgrade(alembic_config(connection), revision)
            return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _one_sqlite_transaction(connection: Connection) -> Iterator[None]:
    """On SQLite, make the migrations one transaction, DDL included.

    Python's sqlite3 opens a transaction implicitly only before a data statement, so each
    ``CREATE``, ``DROP`` and ``ALTER`` committed on its own: a process killed inside a batch
    migration (copy ``records``, drop it, rename the copy) left a store without ``records``
    that no later run could migrate. Here sqlite3 is told to leave transactions alone and one
    ``BEGIN`` covers them all, so a kill rolls the whole upgrade back. The connection's mode
    is restored before it goes back to the pool.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    previous = driver.isolation_level  # type: ignore[union-attr]
    driver.isolation_level = None  # type: ignore[union-attr]
    try:
        connection.exec_driver_sql("BEGIN")
        yield
    finally:
        driver.isolation_level = previous  # type: ignore[union-attr]


def stored_revision(engine: Engine) -> str | None:
    """The one revision ``alembic_version`` names, or None (no table yet, or several rows).

    A database that cannot be reached raises here, as it would in Alembic."""
    with engine.connect() as connection:
        try:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        except DBAPIError:
            return None
    return str(rows[0][0]) if len(rows) == 1 else None


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock beside a SQLite database file (waits for the holder)."""
    database = engine.url.database
    in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
    if engine.dialect.name != "sqlite" or in_memory:
        yield
        return
    with open(f"{database}.migrate-lock", "ab") as handle:  # closing it releases the lock
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
