from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import OperationalError

from kasparro.db.engine import create_db_engine
from kasparro.db.migrate import (
    HEAD,
    alembic_config,
    current_revision,
    head_revision,
    stored_revision,
    upgrade,
)
from kasparro.db.tables import assets, metadata, records

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_migrated_schema_equals_the_table_metadata(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_every_table_and_index_exists(engine: Engine) -> None:
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) >= {
        "records",
        "assets",
        "asset_aliases",
        "checkpoints",
        "etl_runs",
        "etl_run_sources",
        "rejects",
        "raw_payloads",
    }
    record_indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("records")}
    assert record_indexes["ix_records_time"] == ["timestamp", "source", "record_id"]
    assert record_indexes["ix_records_source_time"] == ["source", "timestamp", "record_id"]
    assert record_indexes["ix_records_asset_time"] == [
        "asset_id",
        "timestamp",
        "source",
        "record_id",
    ]
    assert record_indexes["ix_records_symbol_time"] == [
        "symbol",
        "timestamp",
        "source",
        "record_id",
    ]
    assert set(record_indexes) == {
        "ix_records_time",
        "ix_records_source_time",
        "ix_records_asset_time",
        "ix_records_symbol_time",
    }
    assert inspector.get_pk_constraint("records")["constrained_columns"] == [
        "source",
        "record_id",
        "timestamp",
    ]
    # The loader writes assets before records; no per-row foreign-key check on ingest.
    assert inspector.get_foreign_keys("records") == []


def test_upgrade_is_idempotent_and_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision() == HEAD == "0005"
    assert upgrade(engine) == "0005"


@pytest.mark.slow
def test_a_store_at_head_is_recognised_without_alembic(database_url: str) -> None:
    """``kasparro etl`` and ``serve`` start with ``upgrade``: at head it costs one SELECT."""
    program = (
        "import sys\n"
        "import kasparro.cli\n"
        "from kasparro.db.engine import create_db_engine\n"
        "from kasparro.db.migrate import upgrade\n"
        "print(upgrade(create_db_engine(sys.argv[1])), 'alembic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, database_url], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [HEAD, "False"]


def test_a_store_behind_head_is_migrated(engine: Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    assert stored_revision(engine) == "0003"
    assert upgrade(engine) == HEAD
    assert stored_revision(engine) == current_revision(engine) == HEAD


def test_0002_keeps_the_records_of_a_0001_store(engine: Engine) -> None:
    """Down to 0001 (foreign key, narrow symbol index), a record, back up: it is kept."""
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert current_revision(engine) == "0001"
    assert inspect(engine).get_foreign_keys("records") != []
    with engine.begin() as conn:
        conn.execute(
            assets.insert().values(id="bitcoin", symbol="BTC", name="Bitcoin", created_at=NOW)
        )
        conn.execute(
            records.insert().values(
                source="csv",
                record_id="BTC",
                timestamp=NOW,
                asset_id="bitcoin",
                symbol="BTC",
                name="Bitcoin",
                value=1.5,
                ingested_at=NOW,
            )
        )
    assert upgrade(engine) == "0005"
    assert inspect(engine).get_foreign_keys("records") == []
    with engine.connect() as conn:
        rows = conn.execute(select(records.c.record_id, records.c.timestamp, records.c.value)).all()
    assert [tuple(row) for row in rows] == [("BTC", NOW, 1.5)]


def test_an_upgrade_that_fails_midway_leaves_nothing_behind(tmp_path: Path) -> None:
    """The whole upgrade is one transaction on SQLite too, DDL included: when 0002's batch
    rebuild of ``records`` fails (here: its scratch table is in the way), the tables 0001
    created roll back with it. Before, each DDL statement committed on its own, so a process
    killed between dropping ``records`` and renaming its copy left a store no run could
    migrate."""
    url = f"sqlite:///{tmp_path / 'half.db'}"
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE _alembic_tmp_records (x INTEGER)")
        with pytest.raises(OperationalError, match="_alembic_tmp_records already exists"):
            upgrade(engine)
        assert set(inspect(engine).get_table_names()) == {"_alembic_tmp_records"}
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE _alembic_tmp_records")
        assert upgrade(engine) == HEAD
    finally:
        engine.dispose()
