"""Read queries behind ``/metrics``: the run log summarised in a few grouped queries.

``etl_snapshot(conn)`` answers everything the metrics need about the ETL with four
aggregate queries over ``etl_runs`` and ``etl_run_sources`` — never one per row — so every
replica computes the same figures from the same tables, and nothing is lost on a restart.

Runs still ``running`` are counted apart (``EtlSnapshot.running``) and left out of
``EtlSnapshot.runs``: a run changes status once when it ends, so counting only finished runs
keeps the per-status totals monotonic, as Prometheus counters must be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, select

from kasparro.db.outcomes import COUNTERS, RunStatus, counter_label
from kasparro.db.tables import etl_run_sources, etl_runs

OUTCOMES: Mapping[str, str] = {counter_label(name): name for name in COUNTERS}
"""Row outcome label → the ``etl_run_sources`` column that counts it."""


@dataclass(frozen=True, slots=True)
class RunCount:
    """How many finished runs ended with ``status`` after being started by ``trigger``."""

    status: str
    trigger: str
    runs: int


@dataclass(frozen=True, slots=True)
class EtlSnapshot:
    """The ETL as the run log tells it at one moment."""

    runs: tuple[RunCount, ...]
    running: int
    rows: Mapping[str, Mapping[str, int]]
    """source → outcome (a key of ``OUTCOMES``) → rows over every run."""
    last_success: Mapping[str, datetime]
    """source → when its newest successful run finished."""
    latest_status: Mapping[str, str]
    """source → status of its newest run (by run id), finished or not."""


def run_counts(conn: Connection) -> tuple[tuple[RunCount, ...], int]:
    """Finished runs by status and trigger, and how many runs are ``running`` now."""
    rows = conn.execute(
        select(etl_runs.c.status, etl_runs.c.trigger, func.count())
        .group_by(etl_runs.c.status, etl_runs.c.trigger)
        .order_by(etl_runs.c.status, etl_runs.c.trigger)
    ).all()
    finished = tuple(
        RunCount(status, trigger, int(count))
        for status, trigger, count in rows
        if status != RunStatus.RUNNING
    )
    running = sum(int(count) for status, _trigger, count in rows if status == RunStatus.RUNNING)
    return finished, running


def row_totals(conn: Connection) -> dict[str, dict[str, int]]:
    """Rows per source and outcome, summed over every run of that source."""
    columns = [
        func.coalesce(func.sum(etl_run_sources.c[column]), 0) for column in OUTCOMES.values()
    ]
    rows = conn.execute(
        select(etl_run_sources.c.source, *columns)
        .group_by(etl_run_sources.c.source)
        .order_by(etl_run_sources.c.source)
    ).all()
    # sum(bigint) is numeric on PostgreSQL: int() turns its Decimal back into a count.
    return {
        source: {outcome: int(total) for outcome, total in zip(OUTCOMES, totals, strict=True)}
        for source, *totals in rows
    }


def last_success(conn: Connection) -> dict[str, datetime]:
    """When each source's newest successful run finished (sources never successful are absent)."""
    finished = func.max(etl_run_sources.c.finished_at)
    rows = conn.execute(
        select(etl_run_sources.c.source, finished)
        .where(etl_run_sources.c.status == RunStatus.SUCCESS)
        .group_by(etl_run_sources.c.source)
    ).all()
    return {source: stamp for source, stamp in rows if stamp is not None}


def latest_status(conn: Connection) -> dict[str, str]:
    """The status of each source's newest run (the one with the highest run id)."""
    newest = (
        select(
            etl_run_sources.c.source.label("source"),
            func.max(etl_run_sources.c.run_id).label("run_id"),
        )
        .group_by(etl_run_sources.c.source)
        .subquery()
    )
    rows = conn.execute(
        select(etl_run_sources.c.source, etl_run_sources.c.status).join(
            newest,
            and_(
                etl_run_sources.c.source == newest.c.source,
                etl_run_sources.c.run_id == newest.c.run_id,
            ),
        )
    ).all()
    return {source: status for source, status in rows}


def etl_snapshot(conn: Connection) -> EtlSnapshot:
    """Everything ``/metrics`` reports about the ETL, in four grouped queries."""
    runs, running = run_counts(conn)
    return EtlSnapshot(
        runs=runs,
        running=running,
        rows=row_totals(conn),
        last_success=last_success(conn),
        latest_status=latest_status(conn),
    )
