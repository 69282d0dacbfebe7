"""ETL fixtures: the fake upstream, an EtlConfig pointing at it, fast retries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Row, select, text

from kasparro.db.tables import records
from kasparro.etl.config import EtlConfig
from kasparro.etl.http import RetryPolicy
from kasparro.etl.pipeline import RunSummary, SourceSummary
from tests.conftest import make_settings
from tests.support.upstream import FakeUpstream, fake_upstream


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[FakeUpstream]:
    with fake_upstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(upstream_server: FakeUpstream) -> Iterator[FakeUpstream]:
    """The shared fake upstream, reset to its recorded defaults for each test."""
    upstream_server.reset()
    yield upstream_server


FAST = RetryPolicy(max_retries=3, retry_after_max=5.0, backoff_base=0.01, backoff_max=0.05)


def make_config(upstream: FakeUpstream | None = None, **changes: object) -> EtlConfig:
    """The ETL part of the test settings (``make_settings``), pointed at ``upstream`` when
    given, with a 5 s request deadline and three retries; ``changes`` replace fields."""
    urls = (
        {
            "COINPAPRIKA_BASE_URL": upstream.coinpaprika_url,
            "COINGECKO_BASE_URL": upstream.coingecko_url,
        }
        if upstream
        else {}
    )
    settings = make_settings("sqlite://", HTTP_TIMEOUT_SECONDS="5", HTTP_MAX_RETRIES="3", **urls)
    return replace(settings.etl_config(), **changes)  # type: ignore[arg-type]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def query(engine: Engine, sql: str, **params: object) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def record(engine: Engine, source: str, record_id: str) -> list[Row[Any]]:
    """Every stored observation of one record, oldest first, read through the table types."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(records)
                .where(records.c.source == source, records.c.record_id == record_id)
                .order_by(records.c.timestamp)
            )
        )


def by_source(summary: RunSummary) -> dict[str, SourceSummary]:
    return {s.source: s for s in summary.sources}
