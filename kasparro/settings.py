"""One frozen Settings object, read once from the environment and validated.

Every variable is declared once in ``SETTINGS`` (name, default, help); ``Settings.from_env``
parses and checks them all, and a bad value raises ``SettingsError`` naming the variable.
The other layers never read the environment: they receive ``EtlConfig`` / ``AppConfig``
built from this object by ``Settings.etl_config`` and ``Settings.app_config``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from kasparro.etl.config import BUNDLED_DATA, KNOWN_SOURCES, EtlConfig
from kasparro.gql.config import AppConfig


class SettingsError(ValueError):
    """A setting has a value the program cannot use; ``variable`` names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str | None
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL", "sqlite:///kasparro.db", "SQLAlchemy URL; postgresql://… uses psycopg2"
    ),
    Setting(
        "DATABASE_READ_URL",
        None,
        "optional read replica URL used by the read queries; unset = DATABASE_URL",
    ),
    Setting("ETL_SOURCES", ",".join(KNOWN_SOURCES), "comma-separated sources that run"),
    Setting("CSV_PATH", str(BUNDLED_DATA / "data.csv"), "CSV input for source csv"),
    Setting("CSV2_PATH", str(BUNDLED_DATA / "data2.csv"), "CSV input for source csv2"),
    Setting("ASSETS_PATH", str(BUNDLED_DATA / "assets.csv"), "canonical asset id seed"),
    Setting("COINPAPRIKA_BASE_URL", "https://api.coinpaprika.com/v1", "calls GET {base}/tickers"),
    Setting("COINPAPRIKA_API_KEY", None, "sent as the Authorization header when set"),
    Setting(
        "COINGECKO_BASE_URL", "https://api.coingecko.com/api/v3", "calls GET {base}/coins/markets"
    ),
    Setting("COINGECKO_API_KEY", None, "sent as x-cg-demo-api-key when set"),
    Setting("COINGECKO_PAGES", "1", "pages of 250 coins, at most 100"),
    Setting(
        "HTTP_TIMEOUT_SECONDS",
        "10",
        "deadline of one request attempt in all: connect, redirects, headers and body",
    ),
    Setting("HTTP_MAX_RETRIES", "3", "retries on connect errors, timeouts, 429 and 5xx"),
    Setting("HTTP_RETRY_AFTER_MAX_SECONDS", "30", "cap on an honoured Retry-After"),
    Setting(
        "HTTP_MAX_BODY_BYTES",
        str(16 * 1024 * 1024),
        "largest upstream response, as received and as decoded (gzip, deflate)",
    ),
    Setting("HTTP_MAX_REDIRECTS", "3", "redirects followed per request; 0 = none"),
    Setting(
        "HTTP_MAX_CONTENT_CODINGS",
        "2",
        "content codings decoded per upstream response (gzip, gzip); more fails the source",
    ),
    Setting("ETL_ON_STARTUP", "true", "run the ETL in the background when the server starts"),
    Setting("ETL_INTERVAL_SECONDS", "0", "re-run every N seconds while serving; 0 = startup only"),
    Setting(
        "ETL_LOOKBACK_SECONDS",
        "86400",
        "rows older than their record id's newest stored row minus lookback are skipped",
    ),
    Setting("ETL_BATCH_SIZE", "5000", "rows written per load batch"),
    Setting(
        "ETL_MAX_FUTURE_SECONDS",
        "300",
        "clock skew allowed: rows stamped further in the future are rejected",
    ),
    Setting(
        "ETL_MAX_REJECT_RATIO",
        "0.5",
        "a source rejecting more than this share of what it read fails (likely drift); 1 = never",
    ),
    Setting("ETL_MAX_REJECTS_STORED", "100", "rejects stored per source and run; the rest counted"),
    Setting(
        "CSV_MAX_ROW_BYTES",
        str(1 << 20),
        "longest CSV row (bytes, over all its lines); a longer one is a reject, never held whole",
    ),
    Setting("REJECTS_RETENTION_DAYS", "30", "each ETL run deletes older rejects; 0 = keep them"),
    Setting("RAW_PAYLOAD_RETENTION", "10", "raw API payloads kept per source"),
    Setting(
        "RETENTION_DAYS", "0", "age in days `kasparro prune` deletes by default; 0 = no default"
    ),
    Setting("ADMIN_TOKEN", None, "enables runEtl and POST /etl/run for Bearer <token>"),
    Setting("GRAPHIQL", "true", "serve GraphiQL to browsers at /graphql"),
    Setting("INTROSPECTION", "true", "allow GraphQL introspection"),
    Setting("DEFAULT_PAGE_SIZE", "100", "records per page when none is asked"),
    Setting("MAX_PAGE_SIZE", "1000", "largest page a client may ask"),
    Setting("GRAPHQL_COMPILED", "true", "serve plain list queries by the compiled path"),
    Setting(
        "CONSENSUS_MAX_AGE_SECONDS",
        "86400",
        "consensus keeps a source's newest quote only when at most this older than the "
        "asset's newest quote",
    ),
    Setting(
        "CONSENSUS_OUTLIER_PCT",
        "2.0",
        "a quote further than this percentage from the consensus median is an outlier",
    ),
    Setting("EXPORT_BATCH_ROWS", "5000", "rows an export reads per database query (1-100000)"),
    Setting("MAX_REQUEST_BYTES", "1048576", "largest request body accepted"),
    Setting("MAX_QUERY_BYTES", "65536", "largest GraphQL document (UTF-8 bytes) parsed"),
    Setting("MAX_QUERY_TOKENS", "5000", "most tokens in a GraphQL document"),
    Setting("MAX_QUERY_DEPTH", "15", "deepest nesting of fields in a GraphQL operation"),
    Setting("MAX_QUERY_ALIASES", "30", "most aliases in a GraphQL document"),
    Setting("MAX_QUERY_COST", "50000", "highest estimated cost (values in the answer) run"),
    Setting(
        "MAX_QUERY_MERGE_BUDGET",
        "10000",
        "work units validation may spend comparing fields that share a response name",
    ),
    Setting(
        "GRAPHQL_OFFLOAD_COST",
        "5000",
        "queries of at least this estimated cost execute in a worker thread, off the loop",
    ),
    Setting(
        "GRAPHQL_CACHE_BYTES",
        "33554432",
        "estimated bytes held by each of the parsed-document and compiled-plan caches",
    ),
    Setting(
        "MAX_VARIABLE_VALUES",
        "1000",
        "most values (list items, object fields) in a GraphQL request's variables",
    ),
    Setting("MAX_VARIABLE_DEPTH", "8", "deepest nesting of lists and objects in a variable"),
    Setting("MAX_VARIABLE_STRING_CHARS", "4096", "longest string in a GraphQL variable"),
    Setting(
        "MAX_BATCH",
        "10",
        "most GraphQL operations in one batch (a JSON array body); 0 turns batching off",
    ),
    Setting(
        "APQ_CACHE_BYTES",
        "8388608",
        "bytes of query text the automatic persisted query store holds; 0 turns APQ off",
    ),
    Setting(
        "COMPRESS_MIN_BYTES",
        "1024",
        "answers at least this long are gzip-compressed for clients that accept it; 0 = never",
    ),
    Setting(
        "CORS_ORIGINS",
        None,
        "comma-separated origins (scheme://host[:port]) whose pages may call the API, or *; "
        "unset = none",
    ),
    Setting("DEBUG", "false", "show unmasked GraphQL errors"),
    Setting(
        "DB_STATEMENT_TIMEOUT_SECONDS",
        "10",
        "a request's database statement is cancelled after this (504 with Retry-After)",
    ),
    Setting(
        "DB_LOCK_TIMEOUT_SECONDS",
        "3",
        "a request waits at most this for a database lock or a pooled connection (504)",
    ),
    Setting(
        "HEALTH_TIMEOUT_SECONDS",
        "1",
        "/health's own database probes: a slower answer is reported as slow",
    ),
    Setting(
        "ETL_STATEMENT_TIMEOUT_SECONDS",
        "600",
        "an ETL database statement (a batch's COPY or merge) is cancelled after this",
    ),
    Setting(
        "ETL_LOCK_TIMEOUT_SECONDS",
        "5",
        "an ETL write waits at most this for a lock (PostgreSQL) or SQLite's write lock",
    ),
    Setting(
        "ETL_STOP_GRACE_SECONDS",
        "2",
        "after a stop (shutdown), a run's blocked database statement is cancelled after this",
    ),
    Setting(
        "ETL_BOOKKEEPING_TIMEOUT_SECONDS",
        "3",
        "how long a run retries recording itself in a refusing database before owing it",
    ),
    Setting(
        "CLIENT_HEADER_TIMEOUT_SECONDS",
        "10",
        "a client must send a request's line and headers within this; else 408 and closed",
    ),
    Setting(
        "CLIENT_BODY_TIMEOUT_SECONDS",
        "30",
        "a client must send a request's body within this of its headers (and read a "
        "response it stalls within this); else closed",
    ),
    Setting(
        "MAX_CONNECTIONS",
        "1000",
        "open client connections; lowered when the file descriptor limit cannot hold them",
    ),
    Setting(
        "LOG_REPEAT_INTERVAL_SECONDS",
        "10",
        "a repeated server error or warning (accept failing, connections refused) is "
        "logged once per interval, with a count",
    ),
    Setting(
        "LOG_MAX_VALUE_CHARS",
        "1000",
        "longest message or context value written to the log; longer ones are cut, marked",
    ),
    Setting("LOG_FORMAT", "console", "console or json (one JSON object per line)"),
    Setting("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING, ERROR"),
)

MAX_COINGECKO_PAGES = 100
"""CoinGecko lists about 17,000 coins (70 pages of 250); a larger value is a mistake that
would have a run fetch page after page for many minutes."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise ValueError(f"must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum}, got {number}")
        return number

    return parse


def _seconds(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"must be a positive number of seconds, got {value!r}")
    return number


def _ratio(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError(f"expected a number from 0 to 1, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"must be from 0 to 1, got {value!r}")
    return number


def _percent(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError(f"expected a percentage, got {value!r}") from None
    if not 0.0 <= number < float("inf"):
        raise ValueError(f"must be a finite percentage >= 0, got {value!r}")
    return number


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value.strip().rstrip("/")


def _database_url(value: str) -> str:
    try:
        url = make_url(value.strip())
    except ArgumentError:
        raise ValueError(f"not a database URL: {value!r}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"only sqlite:// and postgresql:// are supported, got {value!r}")
    return value.strip()


def _sources(value: str) -> tuple[str, ...]:
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if not names:
        raise ValueError("names no source; known: " + ", ".join(KNOWN_SOURCES))
    unknown = [name for name in names if name not in KNOWN_SOURCES]
    if unknown:
        raise ValueError(
            f"unknown source {', '.join(map(repr, unknown))} (known: {', '.join(KNOWN_SOURCES)})"
        )
    return tuple(dict.fromkeys(names))


def _choice(*allowed: str, upper: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        normal = value.strip().upper() if upper else value.strip().lower()
        if normal not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return normal

    return parse


def _origins(value: str) -> tuple[str, ...]:
    origins = tuple(
        dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip())
    )
    if "*" in origins and len(origins) > 1:
        raise ValueError("* allows every origin: give it alone, or list origins without it")
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?", origin):
            raise ValueError(
                f"{origin!r} is not an origin (scheme://host[:port], no path or trailing /)"
            )
    return origins


def _text(value: str) -> str:
    return value


def _path(value: str) -> Path:
    if not value.strip():
        raise ValueError("must not be empty")
    return Path(value.strip())


_PARSERS: dict[str, Callable[[str], Any]] = {
    "DATABASE_URL": _database_url,
    "DATABASE_READ_URL": _database_url,
    "ETL_SOURCES": _sources,
    "CSV_PATH": _path,
    "CSV2_PATH": _path,
    "ASSETS_PATH": _path,
    "COINPAPRIKA_BASE_URL": _http_url,
    "COINPAPRIKA_API_KEY": _text,
    "COINGECKO_BASE_URL": _http_url,
    "COINGECKO_API_KEY": _text,
    "COINGECKO_PAGES": _integer(1, maximum=MAX_COINGECKO_PAGES),
    "HTTP_TIMEOUT_SECONDS": _seconds,
    "HTTP_MAX_RETRIES": _integer(0),
    "HTTP_RETRY_AFTER_MAX_SECONDS": _seconds,
    "HTTP_MAX_BODY_BYTES": _integer(1024),
    "HTTP_MAX_REDIRECTS": _integer(0),
    "HTTP_MAX_CONTENT_CODINGS": _integer(1, maximum=16),
    "ETL_ON_STARTUP": _boolean,
    "ETL_INTERVAL_SECONDS": _integer(0),
    "ETL_LOOKBACK_SECONDS": _integer(0),
    "ETL_BATCH_SIZE": _integer(1),
    "ETL_MAX_FUTURE_SECONDS": _integer(0),
    "ETL_MAX_REJECT_RATIO": _ratio,
    "ETL_MAX_REJECTS_STORED": _integer(0),
    "CSV_MAX_ROW_BYTES": _integer(1024),
    "REJECTS_RETENTION_DAYS": _integer(0),
    "RAW_PAYLOAD_RETENTION": _integer(1),
    "RETENTION_DAYS": _integer(0),
    "ADMIN_TOKEN": _text,
    "GRAPHIQL": _boolean,
    "INTROSPECTION": _boolean,
    "DEFAULT_PAGE_SIZE": _integer(1),
    "MAX_PAGE_SIZE": _integer(1),
    "GRAPHQL_COMPILED": _boolean,
    "CONSENSUS_MAX_AGE_SECONDS": _integer(0),
    "CONSENSUS_OUTLIER_PCT": _percent,
    "EXPORT_BATCH_ROWS": _integer(1, maximum=100_000),
    "MAX_REQUEST_BYTES": _integer(1024),
    "MAX_QUERY_BYTES": _integer(256),
    "MAX_QUERY_TOKENS": _integer(100),
    "MAX_QUERY_DEPTH": _integer(1),
    "MAX_QUERY_ALIASES": _integer(0),
    "MAX_QUERY_COST": _integer(1),
    "MAX_QUERY_MERGE_BUDGET": _integer(100),
    "GRAPHQL_OFFLOAD_COST": _integer(0),
    "GRAPHQL_CACHE_BYTES": _integer(0),
    "MAX_VARIABLE_VALUES": _integer(1),
    "MAX_VARIABLE_DEPTH": _integer(1),
    "MAX_VARIABLE_STRING_CHARS": _integer(1),
    "MAX_BATCH": _integer(0),
    "APQ_CACHE_BYTES": _integer(0),
    "COMPRESS_MIN_BYTES": _integer(0),
    "CORS_ORIGINS": _origins,
    "DEBUG": _boolean,
    "DB_STATEMENT_TIMEOUT_SECONDS": _seconds,
    "DB_LOCK_TIMEOUT_SECONDS": _seconds,
    "HEALTH_TIMEOUT_SECONDS": _seconds,
    "ETL_STATEMENT_TIMEOUT_SECONDS": _seconds,
    "ETL_LOCK_TIMEOUT_SECONDS": _seconds,
    "ETL_STOP_GRACE_SECONDS": _seconds,
    "ETL_BOOKKEEPING_TIMEOUT_SECONDS": _seconds,
    "CLIENT_HEADER_TIMEOUT_SECONDS": _seconds,
    "CLIENT_BODY_TIMEOUT_SECONDS": _seconds,
    "MAX_CONNECTIONS": _integer(1),
    "LOG_REPEAT_INTERVAL_SECONDS": _seconds,
    "LOG_MAX_VALUE_CHARS": _integer(100),
    "LOG_FORMAT": _choice("console", "json"),
    "LOG_LEVEL": _choice(*_LOG_LEVELS, upper=True),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the program, validated. Build it with ``Settings.from_env``."""

    database_url: str
    database_read_url: str | None
    etl_sources: tuple[str, ...]
    csv_path: Path
    csv2_path: Path
    assets_path: Path
    coinpaprika_base_url: str
    coinpaprika_api_key: str | None
    coingecko_base_url: str
    coingecko_api_key: str | None
    coingecko_pages: int
    http_timeout_seconds: float
    http_max_retries: int
    http_retry_after_max_seconds: float
    http_max_body_bytes: int
    http_max_redirects: int
    http_max_content_codings: int
    etl_on_startup: bool
    etl_interval_seconds: int
    etl_lookback_seconds: int
    etl_batch_size: int
    etl_max_future_seconds: int
    etl_max_reject_ratio: float
    etl_max_rejects_stored: int
    csv_max_row_bytes: int
    rejects_retention_days: int
    raw_payload_retention: int
    retention_days: int
    admin_token: str | None
    graphiql: bool
    introspection: bool
    default_page_size: int
    max_page_size: int
    graphql_compiled: bool
    consensus_max_age_seconds: int
    consensus_outlier_pct: float
    export_batch_rows: int
    max_request_bytes: int
    max_query_bytes: int
    max_query_tokens: int
    max_query_depth: int
    max_query_aliases: int
    max_query_cost: int
    max_query_merge_budget: int
    graphql_offload_cost: int
    graphql_cache_bytes: int
    max_variable_values: int
    max_variable_depth: int
    max_variable_string_chars: int
    max_batch: int
    apq_cache_bytes: int
    compress_min_bytes: int
    cors_origins: tuple[str, ...] | None
    debug: bool
    db_statement_timeout_seconds: float
    db_lock_timeout_seconds: float
    health_timeout_seconds: float
    etl_statement_timeout_seconds: float
    etl_lock_timeout_seconds: float
    etl_stop_grace_seconds: float
    etl_bookkeeping_timeout_seconds: float
    client_header_timeout_seconds: float
    client_body_timeout_seconds: float
    max_connections: int
    log_repeat_interval_seconds: float
    log_max_value_chars: int
    log_format: str
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Parse every variable of ``SETTINGS`` from ``environ``; raise ``SettingsError``.

        An empty string counts as unset. ``overrides`` replace parsed fields (for tests and
        command-line flags) and are not re-validated.
        """
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.name)
            if raw is None or raw.strip() == "":
                raw = setting.default
            if raw is None:
                values[setting.name.lower()] = None
                continue
            try:
                values[setting.name.lower()] = _PARSERS[setting.name](raw)
            except ValueError as exc:
                raise SettingsError(setting.name, str(exc)) from None
        if values["default_page_size"] > values["max_page_size"]:
            raise SettingsError(
                "DEFAULT_PAGE_SIZE",
                f"{values['default_page_size']} is larger than MAX_PAGE_SIZE "
                f"{values['max_page_size']}",
            )
        values.update(overrides)
        return cls(**values)

    def etl_config(self) -> EtlConfig:
        return EtlConfig(
            sources=self.etl_sources,
            csv_path=self.csv_path,
            csv2_path=self.csv2_path,
            assets_path=self.assets_path,
            coinpaprika_base_url=self.coinpaprika_base_url,
            coinpaprika_api_key=self.coinpaprika_api_key,
            coingecko_base_url=self.coingecko_base_url,
            coingecko_api_key=self.coingecko_api_key,
            coingecko_pages=self.coingecko_pages,
            http_timeout_seconds=self.http_timeout_seconds,
            http_max_retries=self.http_max_retries,
            http_retry_after_max_seconds=self.http_retry_after_max_seconds,
            http_max_body_bytes=self.http_max_body_bytes,
            http_max_redirects=self.http_max_redirects,
            http_max_content_codings=self.http_max_content_codings,
            lookback_seconds=self.etl_lookback_seconds,
            raw_payload_retention=self.raw_payload_retention,
            batch_size=self.etl_batch_size,
            max_future_seconds=self.etl_max_future_seconds,
            max_reject_ratio=self.etl_max_reject_ratio,
            max_rejects_stored=self.etl_max_rejects_stored,
            csv_max_row_bytes=self.csv_max_row_bytes,
            rejects_retention_days=self.rejects_retention_days,
            statement_timeout_seconds=self.etl_statement_timeout_seconds,
            lock_timeout_seconds=self.etl_lock_timeout_seconds,
            stop_grace_seconds=self.etl_stop_grace_seconds,
            bookkeeping_timeout_seconds=self.etl_bookkeeping_timeout_seconds,
        )

    def app_config(self) -> AppConfig:
        return AppConfig(
            database_url=self.database_url,
            database_read_url=self.database_read_url,
            etl=self.etl_config(),
            etl_on_startup=self.etl_on_startup,
            etl_interval_seconds=self.etl_interval_seconds,
            admin_token=self.admin_token,
            graphiql=self.graphiql,
            introspection=self.introspection,
            default_page_size=self.default_page_size,
            max_page_size=self.max_page_size,
            graphql_compiled=self.graphql_compiled,
            consensus_max_age_seconds=self.consensus_max_age_seconds,
            consensus_outlier_pct=self.consensus_outlier_pct,
            export_batch_rows=self.export_batch_rows,
            max_request_bytes=self.max_request_bytes,
            max_query_bytes=self.max_query_bytes,
            max_query_tokens=self.max_query_tokens,
            max_query_depth=self.max_query_depth,
            max_query_aliases=self.max_query_aliases,
            max_query_cost=self.max_query_cost,
            max_query_merge_budget=self.max_query_merge_budget,
            graphql_offload_cost=self.graphql_offload_cost,
            graphql_cache_bytes=self.graphql_cache_bytes,
            max_variable_values=self.max_variable_values,
            max_variable_depth=self.max_variable_depth,
            max_variable_string_chars=self.max_variable_string_chars,
            max_batch=self.max_batch,
            apq_cache_bytes=self.apq_cache_bytes,
            compress_min_bytes=self.compress_min_bytes,
            cors_origins=self.cors_origins or (),
            debug=self.debug,
            db_statement_timeout_seconds=self.db_statement_timeout_seconds,
            db_lock_timeout_seconds=self.db_lock_timeout_seconds,
            health_timeout_seconds=self.health_timeout_seconds,
        )

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]
