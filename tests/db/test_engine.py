from __future__ import annotations

import pytest
from sqlalchemy import Engine, text


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
