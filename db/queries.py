"""Read queries shared by GraphQL resolvers and REST shims.

Every function takes an open ``Connection`` and typed arguments and returns plain rows or
dataclasses; the HTTP layers hold no SQL of their own.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, text

from db.tables import etl_runs

RUN_STATUSES = ("running", "success", "partial", "failed", "skipped")


def ping(conn: Connection) -> None:
    """Raise if the database does not answer a trivial query."""
    conn.execute(text("SELECT 1")).scalar_one()


def etl_last_run_status(conn: Connection) -> str:
    """Status of the newest ETL run that did work: never, running, success, partial, failed.

    Runs recorded as ``skipped`` (another process held the ETL lock) are passed over.
    """
    status = conn.execute(
        select(etl_runs.c.status)
        .where(etl_runs.c.status != "skipped")
        .order_by(etl_runs.c.started_at.desc(), etl_runs.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return status if status is not None else "never"
