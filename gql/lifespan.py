"""The ETL scheduler's place in the application lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import Engine

from gql.admin import EtlRunner
from gql.config import AppConfig


@contextlib.asynccontextmanager
async def etl_scheduler(engine: Engine, config: AppConfig) -> AsyncIterator[EtlRunner | None]:
    """Start the ETL scheduler on ``engine`` and stop it (gracefully) on the way out.

    The engine must outlive the scheduler: it is created before and disposed of after.
    """
    # The scheduler (etl.scheduler.EtlScheduler) is wired in once it lands.
    yield None
