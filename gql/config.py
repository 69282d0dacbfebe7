"""What the web application needs to know, built by the composition root from Settings.

Each field is one setting, declared here once (``etl.declared.setting``); docs/settings.md is
generated from the declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kasparro.etl.config import EtlConfig
from kasparro.etl.declared import (
    Boolean,
    DatabaseUrl,
    Integer,
    Origins,
    Percent,
    Seconds,
    Text,
    setting,
)
from kasparro.gql.live_config import SubscriptionConfig


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Database, web application and GraphQL limits."""

    database_url: str = setting(
        "DATABASE_URL",
        "sqlite:///kasparro.db",
        DatabaseUrl(),
        "SQLAlchemy URL; `postgresql://…` uses psycopg2 (its password is never shown)",
    )
    database_read_url: str | None = setting(
        "DATABASE_READ_URL",
        None,
        DatabaseUrl(),
        "optional read replica for the queries; unset = `DATABASE_URL`",
    )
    etl: EtlConfig = field(default_factory=EtlConfig)
    subscriptions: SubscriptionConfig = field(default_factory=SubscriptionConfig)
    etl_on_startup: bool = setting(
        "ETL_ON_STARTUP",
        True,
        Boolean(),
        "run the ETL when the server starts, in the background: serving starts at once",
    )
    etl_interval_seconds: int = setting(
        "ETL_INTERVAL_SECONDS",
        0,
        Integer(0),
        "re-run every N seconds while serving; 0 = only at startup",
    )
    admin_token: str | None = setting(
        "ADMIN_TOKEN",
        None,
        Text(),
        "enables `runEtl` / `POST /etl/run` for `Authorization: Bearer <token>`",
        secret=True,
    )
    graphiql: bool = setting(
        "GRAPHIQL", True, Boolean(), "serve GraphiQL to browsers at `/graphql`; off in production"
    )
    dashboard: bool = setting(
        "DASHBOARD",
        True,
        Boolean(),
        "serve the dashboard (static pages over the GraphQL API) at `/`; off: `/` is a 404",
    )
    dashboard_poll_seconds: int = setting(
        "DASHBOARD_POLL_SECONDS",
        10,
        Integer(1, 3600),
        "the dashboard re-reads its data this often when live updates (WebSocket) are unavailable",
    )
    introspection: bool = setting(
        "INTROSPECTION", True, Boolean(), "allow GraphQL introspection; off in production"
    )
    default_page_size: int = setting(
        "DEFAULT_PAGE_SIZE",
        100,
        Integer(1),
        "records per page when none is asked; at most `MAX_PAGE_SIZE`",
    )
    max_page_size: int = setting("MAX_PAGE_SIZE", 1000, Integer(1), "largest page a client may ask")
    graphql_compiled: bool = setting(
        "GRAPHQL_COMPILED",
        True,
        Boolean(),
        "serve plain list queries by the compiled execution path",
    )
    consensus_max_age_seconds: int = setting(
        "CONSENSUS_MAX_AGE_SECONDS",
        86400,
        Integer(0),
        "consensus keeps a source's newest quote only when at most this older than the "
        "asset's newest quote",
    )
    consensus_outlier_pct: float = setting(
        "CONSENSUS_OUTLIER_PCT",
        2.0,
        Percent(),
        "a quote further than this percentage from the consensus median is an outlier",
    )
    export_batch_rows: int = setting(
        "EXPORT_BATCH_ROWS",
        5000,
        Integer(1, 100_000),
        "rows an export (`/data.csv`, `/data.ndjson`, `kasparro export`) reads per query",
    )
    max_request_bytes: int = setting(
        "MAX_REQUEST_BYTES",
        1_048_576,
        Integer(1024),
        "largest request body accepted; a larger `Content-Length`, or a chunked body that "
        "grows past it, is a 413; also the largest WebSocket message (larger: close 1009)",
    )
    max_query_bytes: int = setting(
        "MAX_QUERY_BYTES",
        65_536,
        Integer(256),
        "largest GraphQL document (UTF-8 bytes); a longer one is refused before parsing "
        "(`QUERY_TOO_LARGE`)",
    )
    max_query_tokens: int = setting(
        "MAX_QUERY_TOKENS",
        5000,
        Integer(100),
        "most tokens in a GraphQL document; the parser stops past it",
    )
    max_query_depth: int = setting(
        "MAX_QUERY_DEPTH",
        15,
        Integer(1),
        "deepest nesting of fields in an operation, introspection included",
    )
    max_query_aliases: int = setting(
        "MAX_QUERY_ALIASES",
        30,
        Integer(0),
        "most aliases in a document (a fragment's count once per spread)",
    )
    max_query_cost: int = setting(
        "MAX_QUERY_COST",
        50_000,
        Integer(1),
        "highest estimated cost (about one unit per value in the answer) an operation may "
        "have; more is refused before it runs (`QUERY_TOO_COSTLY`)",
    )
    max_query_merge_budget: int = setting(
        "MAX_QUERY_MERGE_BUDGET",
        10_000,
        Integer(100),
        "work units validation may spend comparing fields that share a response name; past "
        "it validation stops",
    )
    graphql_offload_cost: int = setting(
        "GRAPHQL_OFFLOAD_COST",
        5000,
        Integer(0),
        "queries of at least this estimated cost execute on an event loop of their own, in a "
        "worker thread",
    )
    graphql_cache_bytes: int = setting(
        "GRAPHQL_CACHE_BYTES",
        33_554_432,
        Integer(0),
        "estimated memory each of the parsed-document cache (a quarter of it for the map "
        "from texts as sent to their normalized form) and the compiled-plan cache may hold "
        "(32 MiB); 0 caches nothing",
    )
    max_variable_values: int = setting(
        "MAX_VARIABLE_VALUES",
        1000,
        Integer(1),
        "most values (list items, object fields, the variables themselves) in a GraphQL "
        "request's `variables`; more is a 400 before anything coerces them",
    )
    max_variable_depth: int = setting(
        "MAX_VARIABLE_DEPTH",
        8,
        Integer(1),
        "deepest nesting of lists and objects in a GraphQL variable (its own value is depth "
        "1); deeper is a 400",
    )
    max_variable_string_chars: int = setting(
        "MAX_VARIABLE_STRING_CHARS",
        4096,
        Integer(1),
        "longest string (or object key) in GraphQL variables; longer is a 400",
    )
    max_batch: int = setting(
        "MAX_BATCH",
        10,
        Integer(0),
        "most operations in one GraphQL batch (a JSON array body); more is a 400; 0 turns "
        "batching off",
    )
    apq_cache_bytes: int = setting(
        "APQ_CACHE_BYTES",
        8_388_608,
        Integer(0),
        "query text the automatic persisted query store holds (8 MiB, least recently used "
        "out first); 0 turns APQ off (every hash is then `PERSISTED_QUERY_NOT_FOUND`)",
    )
    compress_min_bytes: int = setting(
        "COMPRESS_MIN_BYTES",
        1024,
        Integer(0),
        "answers (GraphQL and REST) at least this long are gzip-compressed for clients that "
        "send `Accept-Encoding: gzip`; 0 = never",
    )
    cors_origins: tuple[str, ...] = setting(
        "CORS_ORIGINS",
        (),
        Origins(),
        "comma-separated origins (`scheme://host[:port]`) whose pages may call the API, or "
        "`*` for any; unset = none",
        shown_default="unset (no origin)",
    )
    debug: bool = setting("DEBUG", False, Boolean(), "show unmasked GraphQL errors")
    db_statement_timeout_seconds: float = setting(
        "DB_STATEMENT_TIMEOUT_SECONDS",
        10.0,
        Seconds(),
        "a request's database statement is cancelled after this: 504 with `Retry-After`",
    )
    db_lock_timeout_seconds: float = setting(
        "DB_LOCK_TIMEOUT_SECONDS",
        3.0,
        Seconds(),
        "a request's statement waits at most this for a lock (PostgreSQL `lock_timeout`, "
        "SQLite's busy timeout), and a request at most this for a pooled connection: 504",
    )
    health_timeout_seconds: float = setting(
        "HEALTH_TIMEOUT_SECONDS",
        1.0,
        Seconds(),
        "bound of each `/health` probe (its own pool; lock waits half of it); past it the "
        "database is reported `slow`",
    )
