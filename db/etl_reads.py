"""What the ETL reads before it loads a source: its checkpoint, the newest stored row of
each of its record ids, and the canonical assets and aliases (the writes are ``db.load``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from kasparro.db.tables import asset_aliases, assets, checkpoints, latest_records


def read_checkpoint(conn: Connection, source: str) -> tuple[datetime | None, str | None]:
    """(high_water, fingerprint) of ``source``, or (None, None) before its first load."""
    row = conn.execute(
        select(checkpoints.c.high_water, checkpoints.c.fingerprint).where(
            checkpoints.c.source == source
        )
    ).first()
    return (row.high_water, row.fingerprint) if row else (None, None)


def read_heads(conn: Connection, source: str) -> dict[str, datetime]:
    """The newest stored timestamp of each of ``source``'s record ids (``latest_records``,
    which every writer keeps exact)."""
    result = conn.execute(
        select(latest_records.c.record_id, latest_records.c.timestamp).where(
            latest_records.c.source == source
        )
    )
    return {row.record_id: row.timestamp for row in result}


def read_assets(conn: Connection) -> list[tuple[str, str, str]]:
    """Every (id, symbol, name) in ``assets``."""
    result = conn.execute(select(assets.c.id, assets.c.symbol, assets.c.name))
    return [(row.id, row.symbol, row.name) for row in result]


def read_aliases(conn: Connection) -> list[tuple[str, str, str]]:
    """Every (source, record_id, asset_id) in ``asset_aliases``."""
    result = conn.execute(
        select(asset_aliases.c.source, asset_aliases.c.record_id, asset_aliases.c.asset_id)
    )
    return [(row.source, row.record_id, row.asset_id) for row in result]
