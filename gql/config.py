"""What the web application needs to know, built by the composition root from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from etl.config import EtlConfig


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Frozen application configuration; see the settings table in README.md."""

    database_url: str = "sqlite:///kasparro.db"
    database_read_url: str | None = None
    etl: EtlConfig = field(default_factory=EtlConfig)
    etl_on_startup: bool = True
    etl_interval_seconds: int = 0
    admin_token: str | None = None
    graphiql: bool = True
    introspection: bool = True
    default_page_size: int = 100
    max_page_size: int = 1000
    graphql_compiled: bool = True
    max_request_bytes: int = 1_048_576
    debug: bool = False
    db_statement_timeout_seconds: float = 10.0
    db_lock_timeout_seconds: float = 3.0
    health_timeout_seconds: float = 1.0
