"""The health report that both GraphQL ``health`` and ``GET /health`` return."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from db import queries
from gql.dbcall import run_db

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """``db``: the primary (DATABASE_URL); ``read_db``: the read database (DATABASE_READ_URL),
    None when there is no separate one. Healthy only when every configured database answers."""

    db: str
    etl_last_run: str
    database: str
    detail: str | None
    read_db: str | None = None

    @property
    def healthy(self) -> bool:
        return self.db == "ok" and self.read_db in (None, "ok")


def _read(conn: Connection) -> str:
    queries.ping(conn)
    return queries.etl_last_run_status(conn)


def _problem(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


async def _ping_read(read_engine: Engine) -> str | None:
    """None when the read database answers, else why not."""
    try:
        await run_db(read_engine, queries.ping)
    except SQLAlchemyError as exc:
        log.warning("health check: read database unreachable: %s", exc.__class__.__name__)
        return _problem(exc)
    return None


async def check_health(engine: Engine, read_engine: Engine | None = None) -> HealthReport:
    """Ask the primary (and the read database, when a separate one is given).

    A failure is reported as ``error``, never raised. The newest run's status comes from
    the primary, where the ETL writes it. ``read_engine`` may be ``engine`` itself (no
    separate read database).
    """
    if read_engine is engine:
        read_engine = None
    read_problem = await _ping_read(read_engine) if read_engine is not None else None
    read_db = None if read_engine is None else ("error" if read_problem else "ok")
    read_detail = f"read database: {read_problem}" if read_problem else None
    try:
        last_run = await run_db(engine, _read)
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable: %s", exc.__class__.__name__)
        return HealthReport("error", "unknown", engine.dialect.name, _problem(exc), read_db)
    return HealthReport("ok", last_run, engine.dialect.name, read_detail, read_db)
