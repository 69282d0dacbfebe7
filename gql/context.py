"""Per-request GraphQL context."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from db.latest_cache import PricesCache
from gql.admin import EtlRunner
from gql.config import AppConfig
from gql.loaders import Loaders


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
    loaders: Loaders
    etl: EtlRunner | None
