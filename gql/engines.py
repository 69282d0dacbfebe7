"""The database engines of one application, each with its own pool and timeouts.

    engine          DATABASE_URL       requests, the ETL's run read back, /metrics;
                                       pool 10 + 10, DB_STATEMENT_TIMEOUT_SECONDS and
                                       DB_LOCK_TIMEOUT_SECONDS (also the pool wait)
    read_engine     DATABASE_READ_URL  the queries, with the same bounds (the engine above
                                       when no read URL is set)
    etl             DATABASE_URL       the ETL's runs: pool 3 + 2 (its lock, a batch, a raw
                                       payload), ETL_STATEMENT_TIMEOUT_SECONDS and
                                       ETL_LOCK_TIMEOUT_SECONDS (a batch's COPY may take long)
    health, health_read                each database for /health only: pool 1 + 1,
                                       HEALTH_TIMEOUT_SECONDS (locks: half of it)

So a request can neither wait on the database past its bounds nor use a connection the ETL
or ``/health`` needs. PostgreSQL connections per replica: 20 + 5 + 2 on DATABASE_URL, and
20 + 2 on DATABASE_READ_URL when set (SCALING.md, "Connection budget").
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from kasparro.db.engine import Timeouts, create_db_engine
from kasparro.gql.config import AppConfig

READ_APPLICATION_NAME = "kasparro-read"
"""PostgreSQL ``application_name`` of the read engine's connections (``pg_stat_activity``)."""

HEALTH_APPLICATION_NAME = "kasparro-health"
ETL_APPLICATION_NAME = "kasparro-etl"


@dataclass(frozen=True, slots=True)
class Engines:
    """Every engine of one application; ``open`` builds them, ``dispose`` closes them."""

    engine: Engine
    read_engine: Engine
    etl: Engine
    health: Engine
    health_read: Engine | None

    @classmethod
    def open(cls, config: AppConfig) -> Engines:
        requests = Timeouts(config.db_statement_timeout_seconds, config.db_lock_timeout_seconds)
        pool_wait = config.db_lock_timeout_seconds

        def for_requests(url: str, name: str) -> Engine:
            return create_db_engine(
                url, pool_timeout=pool_wait, timeouts=requests, application_name=name
            )

        def for_health(url: str) -> Engine:
            seconds = config.health_timeout_seconds
            return create_db_engine(
                url,
                pool_size=1,
                max_overflow=1,
                pool_timeout=seconds,
                connect_timeout=seconds,
                timeouts=Timeouts(seconds, seconds / 2),
                application_name=HEALTH_APPLICATION_NAME,
            )

        url, read_url = config.database_url, config.database_read_url
        engine = for_requests(url, "kasparro")
        return cls(
            engine=engine,
            read_engine=for_requests(read_url, READ_APPLICATION_NAME) if read_url else engine,
            etl=create_db_engine(
                url,
                pool_size=3,
                max_overflow=2,
                timeouts=config.etl.db_timeouts(),
                application_name=ETL_APPLICATION_NAME,
            ),
            health=for_health(url),
            health_read=for_health(read_url) if read_url else None,
        )

    def dispose(self) -> None:
        for engine in {self.engine, self.read_engine, self.etl, self.health, self.health_read}:
            if engine is not None:
                engine.dispose()
