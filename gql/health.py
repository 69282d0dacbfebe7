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
    db: str
    etl_last_run: str
    database: str
    detail: str | None


def _read(conn: Connection) -> str:
    queries.ping(conn)
    return queries.etl_last_run_status(conn)


async def check_health(engine: Engine) -> HealthReport:
    """Ask the database; a failure is reported as ``db: error``, never raised."""
    try:
        last_run = await run_db(engine, _read)
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable: %s", exc.__class__.__name__)
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return HealthReport("error", "unknown", engine.dialect.name, detail)
    return HealthReport("ok", last_run, engine.dialect.name, None)
