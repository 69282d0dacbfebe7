"""What one ETL run needs to know, built by the composition root from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kasparro.db.engine import Timeouts

KNOWN_SOURCES: tuple[str, ...] = ("coinpaprika", "coingecko", "csv", "csv2")
"""Every source the ETL knows, in the order a run processes them."""

BUNDLED_DATA = Path(__file__).parent / "bundled"
"""The shipped sample CSVs and asset seed (``data/`` of the source tree), installed with the
package, so the defaults work from any working directory."""


@dataclass(frozen=True, slots=True)
class EtlConfig:
    """Frozen ETL configuration; see the settings table in README.md for each field."""

    sources: tuple[str, ...] = KNOWN_SOURCES
    csv_path: Path = BUNDLED_DATA / "data.csv"
    csv2_path: Path = BUNDLED_DATA / "data2.csv"
    assets_path: Path = BUNDLED_DATA / "assets.csv"
    coinpaprika_base_url: str = "https://api.coinpaprika.com/v1"
    coinpaprika_api_key: str | None = None
    coingecko_base_url: str = "https://api.coingecko.com/api/v3"
    coingecko_api_key: str | None = None
    coingecko_pages: int = 1
    http_timeout_seconds: float = 10.0
    http_max_retries: int = 3
    http_retry_after_max_seconds: float = 30.0
    http_max_body_bytes: int = 16 * 1024 * 1024
    http_max_redirects: int = 3
    http_max_content_codings: int = 2
    lookback_seconds: int = 86400
    raw_payload_retention: int = 10
    batch_size: int = 5000
    max_future_seconds: int = 300
    max_reject_ratio: float = 0.5
    max_rejects_stored: int = 100
    csv_max_row_bytes: int = 1 << 20
    rejects_retention_days: int = 30
    statement_timeout_seconds: float = 600.0
    lock_timeout_seconds: float = 5.0
    stop_grace_seconds: float = 2.0
    bookkeeping_timeout_seconds: float = 3.0

    def db_timeouts(self) -> Timeouts:
        """The bounds of the ETL's database statements (ETL_STATEMENT_TIMEOUT_SECONDS,
        ETL_LOCK_TIMEOUT_SECONDS), for the engine its runs use."""
        return Timeouts(self.statement_timeout_seconds, self.lock_timeout_seconds)
