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


def _detail(what: str, exc: SQLAlchemyError, debug: bool) -> str:
    """What the client is told: ``what`` alone, unless DEBUG. The database's own words
    (host, port, user, file path) go to the log only."""
    problem = _problem(exc)
    log.warning("health check: %s: %s", what, problem)
    return f"{what}: {problem}" if debug else what


async def _ping_read(read_engine: Engine, debug: bool) -> str | None:
    """None when the read database answers, else why not."""
    try:
        await run_db(read_engine, queries.ping)
    except SQLAlchemyError as exc:
        return _detail("read database unreachable", exc, debug)
    return None


async def check_health(
    engine: Engine, read_engine: Engine | None = None, *, debug: bool = False
) -> HealthReport:
    """Ask the primary (and the read database, when a separate one is given).

    A failure is reported as ``error``, never raised, and ``detail`` says only which
    database is unreachable, unless ``debug`` (DEBUG) adds the database's error text. The
    newest run's status comes from the primary, where the ETL writes it. ``read_engine`` may
    be ``engine`` itself (no separate read database).
    """
    if read_engine is engine:
        read_engine = None
    read_detail = await _ping_read(read_engine, debug) if read_engine is not None else None
    read_db = None if read_engine is None else ("error" if read_detail else "ok")
    try:
        last_run = await run_db(engine, _read)
    except SQLAlchemyError as exc:
        detail = _detail("database unreachable", exc, debug)
        return HealthReport("error", "unknown", engine.dialect.name, detail, read_db)
    return HealthReport("ok", last_run, engine.dialect.name, read_detail, read_db)
