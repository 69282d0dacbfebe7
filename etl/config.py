"""What one ETL run needs to know, built by the composition root from Settings.

Each field is one setting, declared here once (``etl.declared.setting``): its environment
variable, default, accepted values and help. docs/settings.md is generated from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kasparro.db.engine import Timeouts
from kasparro.etl.declared import (
    FilePath,
    HttpUrl,
    Integer,
    NameList,
    Ratio,
    Seconds,
    Text,
    setting,
)

KNOWN_SOURCES: tuple[str, ...] = ("coinpaprika", "coingecko", "csv", "csv2")
"""Every source the ETL knows, in the order a run processes them."""

BUNDLED_DATA = Path(__file__).parent / "bundled"
"""The shipped sample CSVs and asset seed (``data/`` of the source tree), installed with the
package, so the defaults work from any working directory."""

MAX_COINGECKO_PAGES = 100
"""CoinGecko lists about 17,000 coins (70 pages of 250); a larger value is a mistake that
would have a run fetch page after page for many minutes."""


def _bundled(name: str, file: str, help: str) -> Path:
    """A file setting whose default is the copy of ``data/<file>`` installed in BUNDLED_DATA."""
    shown = f"the installed copy of `data/{file}` (`etl/bundled/`)"
    return setting(name, BUNDLED_DATA / file, FilePath(), help, shown_default=shown)


@dataclass(frozen=True, slots=True)
class EtlConfig:
    """ETL: sources, upstream HTTP, loading and the ETL's database bounds."""

    sources: tuple[str, ...] = setting(
        "ETL_SOURCES", KNOWN_SOURCES, NameList(KNOWN_SOURCES, "source"), "sources that run"
    )
    csv_path: Path = _bundled("CSV_PATH", "data.csv", "CSV input of source `csv`")
    csv2_path: Path = _bundled("CSV2_PATH", "data2.csv", "CSV input of source `csv2`")
    assets_path: Path = _bundled("ASSETS_PATH", "assets.csv", "canonical asset id seed")
    coinpaprika_base_url: str = setting(
        "COINPAPRIKA_BASE_URL",
        "https://api.coinpaprika.com/v1",
        HttpUrl(),
        "calls `GET {base}/tickers`",
    )
    coinpaprika_api_key: str | None = setting(
        "COINPAPRIKA_API_KEY",
        None,
        Text(),
        "sent as the `Authorization` header when set",
        secret=True,
    )
    coingecko_base_url: str = setting(
        "COINGECKO_BASE_URL",
        "https://api.coingecko.com/api/v3",
        HttpUrl(),
        "calls `GET {base}/coins/markets?vs_currency=usd&order=market_cap_desc"
        "&per_page=250&page=N`",
    )
    coingecko_api_key: str | None = setting(
        "COINGECKO_API_KEY", None, Text(), "sent as `x-cg-demo-api-key` when set", secret=True
    )
    coingecko_pages: int = setting(
        "COINGECKO_PAGES", 1, Integer(1, MAX_COINGECKO_PAGES), "pages of 250 coins"
    )
    http_timeout_seconds: float = setting(
        "HTTP_TIMEOUT_SECONDS",
        10.0,
        Seconds(),
        "deadline of one upstream request attempt in all: connect, redirects, headers, body",
    )
    http_max_retries: int = setting(
        "HTTP_MAX_RETRIES", 3, Integer(0), "retries on connect errors, timeouts, 429 and 5xx"
    )
    http_retry_after_max_seconds: float = setting(
        "HTTP_RETRY_AFTER_MAX_SECONDS", 30.0, Seconds(), "cap on an honoured `Retry-After`"
    )
    http_max_body_bytes: int = setting(
        "HTTP_MAX_BODY_BYTES",
        16 * 1024 * 1024,
        Integer(1024),
        "largest upstream response (16 MiB), as received and as decoded from gzip/deflate; "
        "larger fails the source",
    )
    http_max_redirects: int = setting(
        "HTTP_MAX_REDIRECTS",
        3,
        Integer(0),
        "redirects followed per attempt (0: none); API keys never go to another origin",
    )
    http_max_content_codings: int = setting(
        "HTTP_MAX_CONTENT_CODINGS",
        2,
        Integer(1, 16),
        "content codings decoded per upstream response (`gzip, gzip` is two); a response "
        "listing more fails the source",
    )
    lookback_seconds: int = setting(
        "ETL_LOOKBACK_SECONDS",
        86400,
        Integer(0),
        "a row older than the newest stored row of its own record id minus lookback is "
        "skipped as already processed",
    )
    raw_payload_retention: int = setting(
        "RAW_PAYLOAD_RETENTION", 10, Integer(1), "raw API payloads kept per source"
    )
    batch_size: int = setting("ETL_BATCH_SIZE", 5000, Integer(1), "rows written per load batch")
    max_future_seconds: int = setting(
        "ETL_MAX_FUTURE_SECONDS",
        300,
        Integer(0),
        "clock skew allowed: a row stamped further in the future is a reject",
    )
    max_reject_ratio: float = setting(
        "ETL_MAX_REJECT_RATIO",
        0.5,
        Ratio(),
        "a source that rejects more than this share of what it read ends `failed` "
        "(likely schema drift); 1 = never",
    )
    max_rejects_stored: int = setting(
        "ETL_MAX_REJECTS_STORED",
        100,
        Integer(0),
        "rejects stored per source and run; the rest are counted, and the source run's "
        "`note` says how many",
    )
    csv_max_row_bytes: int = setting(
        "CSV_MAX_ROW_BYTES",
        1 << 20,
        Integer(1024),
        "longest CSV row (bytes, over all its lines); a longer one is a reject with its "
        "size, read past in blocks and never held whole",
    )
    csv_max_row_lines: int = setting(
        "CSV_MAX_ROW_LINES",
        8,
        Integer(1),
        "most physical lines a CSV row may span (a quoted field with newlines); a quote "
        "still open past them, or at the end of the file, makes the row's first line a "
        "reject (unterminated quote) and reading resumes on the next line",
    )
    rejects_retention_days: int = setting(
        "REJECTS_RETENTION_DAYS",
        30,
        Integer(0),
        "each finished ETL run deletes rejects older than this; 0 keeps them",
    )
    statement_timeout_seconds: float = setting(
        "ETL_STATEMENT_TIMEOUT_SECONDS",
        600.0,
        Seconds(),
        "an ETL statement (a batch's `COPY` or merge) is cancelled after this",
    )
    lock_timeout_seconds: float = setting(
        "ETL_LOCK_TIMEOUT_SECONDS",
        5.0,
        Seconds(),
        "an ETL write waits at most this for a lock (PostgreSQL `lock_timeout`; SQLite's "
        "busy timeout, i.e. another process's write lock); keep it under the 8 s shutdown "
        "grace, since SQLite cannot cut such a wait short",
    )
    stop_grace_seconds: float = setting(
        "ETL_STOP_GRACE_SECONDS",
        2.0,
        Seconds(),
        "after a stop request (shutdown), a run's database statement still running is "
        "cancelled after this (PostgreSQL cancel request; SQLite interrupt)",
    )
    bookkeeping_timeout_seconds: float = setting(
        "ETL_BOOKKEEPING_TIMEOUT_SECONDS",
        3.0,
        Seconds(),
        "how long a run retries writing its own records (a source's end, its end) to a "
        "database that refuses them; then the server keeps the end and writes it later "
        "(at most 1 s per attempt once stopping)",
    )

    def db_timeouts(self) -> Timeouts:
        """The bounds of the ETL's database statements (ETL_STATEMENT_TIMEOUT_SECONDS,
        ETL_LOCK_TIMEOUT_SECONDS), for the engine its runs use."""
        return Timeouts(self.statement_timeout_seconds, self.lock_timeout_seconds)
