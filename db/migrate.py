"""Apply the Alembic migrations that ship inside the ``db`` package."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the database up to ``revision``; return the revision it is at afterwards.

    Concurrent migrators (several replicas or commands starting at once) are serialised: on
    PostgreSQL by an advisory transaction lock, on a SQLite file by an exclusive ``flock`` on
    ``<database>.migrate-lock`` (without it, two processes migrating a new file at once both
    created the tables and one failed with "table … already exists").
    """
    with _sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
        command.upgrade(alembic_config(connection), revision)
        return MigrationContext.configure(connection).get_current_revision()


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
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
