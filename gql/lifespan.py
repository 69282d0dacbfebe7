"""The ETL scheduler's place in the application lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import Engine

from kasparro.etl.scheduler import EtlScheduler
from kasparro.gql.admin import EtlRunner
from kasparro.gql.config import AppConfig

EtlLifespan = Callable[[Engine, AppConfig], AbstractAsyncContextManager["EtlRunner | None"]]
"""Starts what runs the ETL for the lifetime of the app and yields it (or None)."""


@contextlib.asynccontextmanager
async def etl_scheduler(engine: Engine, config: AppConfig) -> AsyncIterator[EtlRunner | None]:
    """Start the ETL scheduler on ``engine`` and stop it (gracefully) on the way out.

    ``start`` returns at once (the startup run, if any, goes on in the background, so the
    server answers meanwhile); ``stop`` lets the current batch finish. The engine must
    outlive the scheduler: the caller creates it before and disposes of it after.
    """
    scheduler = EtlScheduler(
        engine,
        config.etl,
        on_startup=config.etl_on_startup,
        interval_seconds=config.etl_interval_seconds,
    )
    await scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()
