"""The serving floor: the smallest Starlette app that answers the same page as /data.

One route, ``GET /data?limit=N``, runs the same keyset SQL as the first page of
``/data`` (newest first over timestamp, source, record_id) through SQLAlchemy Core in a
worker thread with its own connection, and returns the rows as JSON. No validation,
cursors, middleware or request ids: the stack's own cost, for comparison.

    python bench/floor_app.py --port 8100 --database-url sqlite:///bench/out/store_1m.db
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from sqlalchemy import Connection, Engine, select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kasparro.db.engine import create_db_engine
from kasparro.db.tables import records


def page(engine: Engine, limit: int) -> list[dict[str, Any]]:
    query = (
        select(records)
        .order_by(records.c.timestamp.desc(), records.c.source.desc(), records.c.record_id.desc())
        .limit(limit + 1)
    )
    conn: Connection
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "source": row["source"],
            "record_id": row["record_id"],
            "value": row["value"],
            "timestamp": row["timestamp"].isoformat(),
            "asset_id": row["asset_id"],
            "symbol": row["symbol"],
            "name": row["name"],
            "market_cap": row["market_cap"],
            "volume_24h": row["volume_24h"],
        }
        for row in rows[:limit]
    ]


def build(database_url: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.engine = create_db_engine(database_url)
        yield
        app.state.engine.dispose()

    async def data(request: Request) -> JSONResponse:
        limit = int(request.query_params.get("limit", "100"))
        rows = await run_in_threadpool(page, request.app.state.engine, limit)
        return JSONResponse({"data": rows})

    return Starlette(routes=[Route("/data", data)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    uvicorn.run(build(args.database_url), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
