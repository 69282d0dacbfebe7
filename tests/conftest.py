"""Shared fixtures: a real database per test (SQLite file, or the PostgreSQL database named
by TEST_DATABASE_URL, which these tests wipe), and settings built from it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from kasparro.db.engine import create_db_engine
from kasparro.db.migrate import upgrade
from kasparro.db.tables import latest_version, metadata
from kasparro.settings import Settings

REPO = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
ON_POSTGRESQL = TEST_DATABASE_URL.startswith("postgresql")


def reset_postgresql(url: str) -> None:
    """Drop everything in the test database's public schema and migrate it afresh."""
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """The migrated PostgreSQL test database (session-wide); skip when not configured."""
    if not ON_POSTGRESQL:
        pytest.skip("TEST_DATABASE_URL does not name a PostgreSQL database")
    reset_postgresql(TEST_DATABASE_URL)
    yield TEST_DATABASE_URL


def _truncate_all(url: str) -> None:
    engine = create_db_engine(url)
    try:
        names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            conn.execute(insert(latest_version), {"id": 1, "version": 1, "token": 0})  # as 0004
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database migrated once for the session, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "kasparro.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database for one test."""
    if ON_POSTGRESQL:
        url: str = request.getfixturevalue("postgresql_url")
        _truncate_all(url)
        return url
    path = tmp_path / "kasparro.db"
    shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


def make_settings(database_url: str, **env: str) -> Settings:
    """The settings of the tests: the test database, real shipped data, no network, no
    startup ETL; ``env`` adds or replaces variables. (The ETL's are ``make_config``.)"""
    base = {
        "DATABASE_URL": database_url,
        "CSV_PATH": str(REPO / "data" / "data.csv"),
        "CSV2_PATH": str(REPO / "data" / "data2.csv"),
        "ASSETS_PATH": str(REPO / "data" / "assets.csv"),
        "ETL_ON_STARTUP": "false",
        "COINPAPRIKA_BASE_URL": "http://127.0.0.1:9/v1",
        "COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3",
        "HTTP_TIMEOUT_SECONDS": "2",
        "HTTP_MAX_RETRIES": "0",
    }
    base.update(env)
    return Settings.from_env(base)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)
