"""What one ``/metrics`` scrape computes from the database and the engine's pool.

``render(registry, engine)`` is synchronous and may wait on the database: call it in a
worker thread. It exposes the application's live instruments (``registry``) followed by

- ``kasparro_db_up`` — 1 when the run tables could be read, else 0 (the ETL families
  below are then left out, and the reason is logged);
- ``kasparro_etl_runs_total{status, trigger}`` (finished runs), ``kasparro_etl_runs_running``;
- ``kasparro_etl_rows_total{source, outcome}``;
- ``kasparro_etl_source_last_success_timestamp_seconds{source}``;
- ``kasparro_etl_source_last_status{source, status}`` — 1 for the status of the source's
  newest run, 0 for the others;
- ``kasparro_db_pool_size``, ``kasparro_db_pool_checked_out``, ``kasparro_db_pool_overflow``
  for pools that keep such counts (QueuePool: PostgreSQL and SQLite files; SQLite's
  in-memory SingletonThreadPool and NullPool/StaticPool have none, so nothing is reported).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from kasparro.db.outcomes import SOURCE_STATUSES
from kasparro.db.telemetry import OUTCOMES, EtlSnapshot, etl_snapshot

log = logging.getLogger(__name__)


def read_snapshot(engine: Engine | None) -> EtlSnapshot | None:
    """The ETL snapshot on a connection of its own, or None when the database cannot answer."""
    if engine is None:
        return None
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One consistent view for the four queries (SQLite reads one snapshot anyway).
                conn.execution_options(isolation_level="REPEATABLE READ")
            return etl_snapshot(conn)
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("metrics: cannot read the run tables: %s", reason)
        return None


def etl_families(snapshot: EtlSnapshot | None) -> Iterator[Metric]:
    """``kasparro_db_up`` and, when the snapshot was read, the ETL metric families."""
    yield GaugeMetricFamily(
        "kasparro_db_up", "1 when /metrics could read the run tables, else 0.", 1 if snapshot else 0
    )
    if snapshot is None:
        return
    runs = CounterMetricFamily(
        "kasparro_etl_runs",
        "Finished ETL runs by status and trigger.",
        labels=("status", "trigger"),
    )
    for count in snapshot.runs:
        runs.add_metric((count.status, count.trigger), count.runs)
    yield runs
    yield GaugeMetricFamily(
        "kasparro_etl_runs_running", "ETL runs in progress now.", snapshot.running
    )
    rows = CounterMetricFamily(
        "kasparro_etl_rows",
        "Rows handled by the ETL over every run, by source and outcome.",
        labels=("source", "outcome"),
    )
    for source, outcomes in snapshot.rows.items():
        for outcome in OUTCOMES:
            rows.add_metric((source, outcome), outcomes.get(outcome, 0))
    yield rows
    success = GaugeMetricFamily(
        "kasparro_etl_source_last_success_timestamp_seconds",
        "Unix time at which the newest successful run of each source finished.",
        labels=("source",),
    )
    for source, stamp in snapshot.last_success.items():
        success.add_metric((source,), stamp.timestamp())
    yield success
    status = GaugeMetricFamily(
        "kasparro_etl_source_last_status",
        "1 for the status of the newest run of each source, 0 for the other statuses.",
        labels=("source", "status"),
    )
    for source, latest in snapshot.latest_status.items():
        for name in dict.fromkeys((*SOURCE_STATUSES, latest)):
            status.add_metric((source, name), 1 if name == latest else 0)
    yield status


def pool_families(engine: Engine | None) -> Iterator[Metric]:
    """Pool gauges, for pools that count their connections (see the module docstring)."""
    pool = engine.pool if engine is not None else None
    if not isinstance(pool, QueuePool):
        return
    yield GaugeMetricFamily(
        "kasparro_db_pool_size", "Connections the pool keeps open.", pool.size()
    )
    yield GaugeMetricFamily(
        "kasparro_db_pool_checked_out", "Pool connections in use now.", pool.checkedout()
    )
    # QueuePool.overflow() starts at -size and counts up as connections open.
    yield GaugeMetricFamily(
        "kasparro_db_pool_overflow",
        "Connections open beyond the pool size now.",
        max(pool.overflow(), 0),
    )


class ScrapeCollector(Collector):
    """The registry's instruments, then the families computed for this scrape."""

    def __init__(self, registry: CollectorRegistry, engine: Engine | None) -> None:
        self._registry = registry
        self._engine = engine

    def collect(self) -> Iterable[Metric]:
        yield from self._registry.collect()
        yield from etl_families(read_snapshot(self._engine))
        yield from pool_families(self._engine)


def render(registry: CollectorRegistry, engine: Engine | None) -> bytes:
    """The Prometheus text exposition for one scrape (blocking: run it in a worker thread)."""
    return generate_latest(ScrapeCollector(registry, engine))
