from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from kasparro.db.engine import Timeouts, create_db_engine, is_timeout


def test_sqlite_pragmas(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_postgresql_pool(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL pool")
    assert engine.pool.size() == 10  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.execute(text("SHOW application_name")).scalar() == "kasparro"


ENDLESS = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"


def test_a_statement_past_its_timeout_is_cancelled_and_recognised(database_url: str) -> None:
    bounded = create_db_engine(database_url, timeouts=Timeouts(statement=0.3, lock=0.2))
    try:
        with bounded.connect() as conn:
            started = time.monotonic()
            with pytest.raises(OperationalError) as caught:
                conn.execute(text(ENDLESS)).scalar()  # never ends by itself
            took = time.monotonic() - started
            assert is_timeout(caught.value)
            assert 0.25 <= took < 5, took
            conn.rollback()
            assert conn.execute(text("SELECT 1")).scalar() == 1  # the connection lives on
            if bounded.dialect.name == "postgresql":
                assert conn.execute(text("SHOW statement_timeout")).scalar() == "300ms"
                assert conn.execute(text("SHOW lock_timeout")).scalar() == "200ms"
            else:
                assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 200
    finally:
        bounded.dispose()


def test_a_lock_held_elsewhere_fails_a_write_after_the_lock_timeout(database_url: str) -> None:
    holder = create_db_engine(database_url)
    bounded = create_db_engine(database_url, timeouts=Timeouts(statement=5, lock=0.5))
    try:
        with holder.connect() as held:
            if held.dialect.name == "postgresql":
                held.execute(text("LOCK TABLE assets IN ACCESS EXCLUSIVE MODE"))
            else:
                held.exec_driver_sql("BEGIN EXCLUSIVE")
            with bounded.connect() as conn:
                started = time.monotonic()
                with pytest.raises(OperationalError) as caught:
                    conn.execute(
                        text("INSERT INTO assets (id, symbol, name) VALUES ('x', 'X', 'X')")
                    )
                took = time.monotonic() - started
            held.rollback()
        assert is_timeout(caught.value)
        assert 0.45 <= took < 5, took
    finally:
        holder.dispose()
        bounded.dispose()
