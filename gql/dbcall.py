"""Run synchronous SQLAlchemy work off the event loop, one connection per call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from anyio import to_thread
from sqlalchemy import Connection, Engine

P = ParamSpec("P")
T = TypeVar("T")


async def run_db(
    engine: Engine,
    fn: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Call ``fn(connection, *args, **kwargs)`` in a worker thread with its own connection."""

    def call() -> T:
        with engine.connect() as connection:
            return fn(connection, *args, **kwargs)

    return await to_thread.run_sync(call)
