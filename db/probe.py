"""What ``/health`` asks a database besides ``SELECT 1``: can the served tables be read now?

``SELECT 1`` answers while another session holds ``LOCK TABLE records IN ACCESS EXCLUSIVE
MODE`` (or ``ALTER TABLE``, ``VACUUM FULL``, ``TRUNCATE``…), though every request then
waits. ``touch_served_tables`` reads one row of each table the API serves from, in one
statement, so it waits for such a lock as a request would, up to the connection's lock
timeout, and the health check can tell "reachable" from "reachable and serving".
"""

from __future__ import annotations

from sqlalchemy import Connection, literal, select

from kasparro.db.tables import (
    asset_aliases,
    assets,
    etl_run_sources,
    etl_runs,
    latest_records,
    latest_version,
    records,
)

SERVED_TABLES = (
    records,
    latest_records,
    latest_version,
    assets,
    asset_aliases,
    etl_runs,
    etl_run_sources,
)


def touch_served_tables(conn: Connection) -> None:
    """Read at most one row of every served table (the cost of a few index-free page reads)."""
    firsts = [select(literal(1)).select_from(t).limit(1).scalar_subquery() for t in SERVED_TABLES]
    conn.execute(select(*firsts)).one()
