"""The ETL scheduler's place in the application lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import Engine

from gql.admin import EtlRunner
from gql.config import AppConfig

EtlLifespan = Callable[[Engine, AppConfig], AbstractAsyncContextManager["EtlRunner | None"]]
"""Starts what runs the ETL for the lifetime of the app and yields it (or None)."""


@contextlib.asynccontextmanager
async def etl_scheduler(engine: Engine, config: AppConfig) -> AsyncIterator[EtlRunner | None]:
    """Start the ETL scheduler on ``engine`` and stop it (gracefully) on the way out.

    The engine must outlive the scheduler: it is created before and disposed of after.
    """
    # The scheduler (etl.scheduler.EtlScheduler) is wired in once it lands.
    yield None
