"""Per-request GraphQL context."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from kasparro.db.latest_cache import PricesCache
from kasparro.gql.admin import EtlRunner
from kasparro.gql.config import AppConfig
from kasparro.gql.feed import ChangeFeed
from kasparro.gql.health import HealthProbe
from kasparro.gql.loaders import Loaders


@dataclass
class Context:
    """What every resolver may use; built fresh for each request."""

    request: Request | WebSocket
    response: Response | None
    engine: Engine
    """The primary (DATABASE_URL): for the ETL and for reading back what it just wrote."""
    read_engine: Engine
    """For queries: DATABASE_READ_URL when set, else the primary."""
    config: AppConfig
    prices: PricesCache
    """The latest prices of the read engine's store, kept between changes (one per app)."""
    health: HealthProbe
    loaders: Loaders
    etl: EtlRunner | None
    feed: ChangeFeed | None = None
    """The process's change feed, for subscriptions (``gql.feed``)."""
    connection_params: dict[str, object] | None = None
    """A WebSocket's ``connection_init`` payload (set by Strawberry)."""
    database_failure: SQLAlchemyError | None = None
    """A failing database met by the compiled path's shortcut for this request
    (``gql.compiled``): the operation is answered with it, not sent to the database again."""
