"""Hold a database lock from another session, as a stuck neighbour of the service would."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url


@contextlib.contextmanager
def held_lock(engine: Engine, *tables: str) -> Iterator[None]:
    """PostgreSQL: ``LOCK TABLE <tables> IN ACCESS EXCLUSIVE MODE``; SQLite: ``BEGIN
    EXCLUSIVE`` (the write lock: in WAL mode readers go on). Taking it waits for the
    transactions in progress (up to 30 s on SQLite); it is released when the block ends."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE"))
            yield
            conn.rollback()
        return
    holder = sqlite3.connect(make_url(engine.url).database or "", timeout=30, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()
