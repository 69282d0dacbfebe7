"""What the web application needs to know, built by the composition root from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from kasparro.etl.config import EtlConfig


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
    consensus_max_age_seconds: int = 86400
    consensus_outlier_pct: float = 2.0
    export_batch_rows: int = 5000
    max_request_bytes: int = 1_048_576
    max_query_bytes: int = 65_536
    max_query_tokens: int = 5000
    max_query_depth: int = 15
    max_query_aliases: int = 30
    max_query_cost: int = 50_000
    max_query_merge_budget: int = 10_000
    graphql_offload_cost: int = 5000
    graphql_cache_bytes: int = 33_554_432
    max_variable_values: int = 1000
    max_variable_depth: int = 8
    max_variable_string_chars: int = 4096
    max_batch: int = 10
    apq_cache_bytes: int = 8_388_608
    compress_min_bytes: int = 1024
    cors_origins: tuple[str, ...] = ()
    debug: bool = False
    db_statement_timeout_seconds: float = 10.0
    db_lock_timeout_seconds: float = 3.0
    health_timeout_seconds: float = 1.0
