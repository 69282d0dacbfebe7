from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from db.migrate import current_revision, head_revision, upgrade
from db.tables import metadata


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
    assert inspector.get_pk_constraint("records")["constrained_columns"] == [
        "source",
        "record_id",
        "timestamp",
    ]


def test_upgrade_is_idempotent_and_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision() == "0001"
    assert upgrade(engine) == "0001"
