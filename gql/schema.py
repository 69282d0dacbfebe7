"""The Strawberry schema: types, the Query and Mutation roots, and its extensions."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gql.config import AppConfig
from gql.context import Context
from gql.health import check_health


@strawberry.type(description="Service health: database reachability and the last ETL run.")
class Health:
    db: str = strawberry.field(description="`ok`, or `error` when the database is unreachable.")
    etl_last_run: str = strawberry.field(
        description="Status of the newest ETL run: never, running, success, partial or failed."
    )
    database: str = strawberry.field(description="Database backend: sqlite or postgresql.")
    detail: str | None = strawberry.field(description="Why the database is unreachable, if so.")


@strawberry.type
class Query:
    @strawberry.field(description="Database status and the outcome of the newest ETL run.")
    async def health(self, info: Info[Context, None]) -> Health:
        report = await check_health(info.context.engine)
        return Health(
            db=report.db,
            etl_last_run=report.etl_last_run,
            database=report.database,
            detail=report.detail,
        )


def build_schema(config: AppConfig) -> strawberry.Schema:
    """The executable schema for ``config`` (extensions differ; the SDL never does)."""
    del config
    return strawberry.Schema(query=Query)
