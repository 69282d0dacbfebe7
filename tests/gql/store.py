"""A small store of known rows, loaded straight into the tables (test setup, not the ETL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from kasparro.db import latest
from kasparro.db.tables import asset_aliases, assets, etl_run_sources, etl_runs, records

T0 = datetime(2024, 5, 1, tzinfo=UTC)

ASSETS = [
    ("bitcoin", "BTC", "Bitcoin"),
    ("ethereum", "ETH", "Ethereum"),
    ("tether", "USDT", "Tether"),
]
# (source, record_id, asset_id)
ALIASES = [
    ("coinpaprika", "btc-bitcoin", "bitcoin"),
    ("coingecko", "bitcoin", "bitcoin"),
    ("csv", "BTC", "bitcoin"),
    ("csv2", "BTC", "bitcoin"),
    ("coinpaprika", "eth-ethereum", "ethereum"),
    ("coingecko", "ethereum", "ethereum"),
    ("csv", "ETH", "ethereum"),
    ("coingecko", "tether", "tether"),
]
HOURS = 6


@dataclass(frozen=True)
class Store:
    """What was loaded, for the tests' expectations."""

    records: list[dict[str, Any]]
    run_ids: list[int]

    def keys(self, rows: list[dict[str, Any]] | None = None) -> list[tuple[str, str, str]]:
        return [
            (row["timestamp"].isoformat(), row["source"], row["record_id"])
            for row in (self.records if rows is None else rows)
        ]

    def newest_first(self, **where: Any) -> list[dict[str, Any]]:
        chosen = [row for row in self.records if all(row[k] == v for k, v in where.items())]
        return sorted(
            chosen,
            key=lambda row: (row["timestamp"], row["source"], row["record_id"]),
            reverse=True,
        )


def load_store(engine: Engine) -> Store:
    """Three assets over four sources, six hourly rows each (ties on every timestamp)."""
    now = datetime.now(UTC)
    symbols = {asset_id: (symbol, name) for asset_id, symbol, name in ASSETS}
    prices = {"bitcoin": 60000.0, "ethereum": 3000.0, "tether": 1.0}
    rows: list[dict[str, Any]] = []
    for number, (source, record_id, asset_id) in enumerate(ALIASES):
        symbol, name = symbols[asset_id]
        for hour in range(HOURS):
            rows.append(
                {
                    "source": source,
                    "record_id": record_id,
                    "timestamp": T0 + timedelta(hours=hour),
                    "asset_id": asset_id,
                    "symbol": symbol,
                    "name": name,
                    "value": prices[asset_id] + hour + number / 10,
                    "market_cap": None if source == "csv2" else prices[asset_id] * 1e6,
                    "volume_24h": 12345.5 if source != "csv" else None,
                    "run_id": 1,
                    "ingested_at": now,
                }
            )
    with engine.begin() as conn:
        conn.execute(
            insert(assets),
            [{"id": i, "symbol": s, "name": n, "created_at": now} for i, s, n in ASSETS],
        )
        conn.execute(
            insert(asset_aliases),
            [
                {"source": s, "record_id": r, "asset_id": a, "method": "seed", "created_at": now}
                for s, r, a in ALIASES
            ],
        )
        conn.execute(insert(records), rows)
        latest.fill(conn)
        run_ids = []
        for status, started in (("partial", T0), ("success", T0 + timedelta(days=1))):
            run_ids.append(
                conn.execute(
                    insert(etl_runs).returning(etl_runs.c.id),
                    {
                        "status": status,
                        "trigger": "manual",
                        "started_at": started,
                        "finished_at": started + timedelta(seconds=2, milliseconds=500),
                    },
                ).scalar_one()
            )
        conn.execute(
            insert(etl_runs),
            {"status": "skipped", "trigger": "startup", "started_at": T0 + timedelta(days=2)},
        )
        source_rows = []
        for run_id in run_ids:
            for index, source in enumerate(("coinpaprika", "coingecko", "csv", "csv2")):
                failed = run_id == run_ids[0] and source == "coingecko"
                source_rows.append(
                    {
                        "run_id": run_id,
                        "source": source,
                        "status": "failed" if failed else "success",
                        "started_at": T0 + timedelta(seconds=index),
                        "finished_at": T0 + timedelta(seconds=index + 1),
                        "rows_read": 10,
                        "inserted": 0 if failed else 6,
                        "updated": 1,
                        "unchanged": 2,
                        "skipped": 0,
                        "rejected": 1,
                        "error": "HTTP 500" if failed else None,
                    }
                )
        conn.execute(insert(etl_run_sources), source_rows)
    return Store(records=rows, run_ids=run_ids)
