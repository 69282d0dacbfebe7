"""Known run-log rows written straight into ``etl_runs`` / ``etl_run_sources`` (test setup).

``SCENARIO`` is the history the telemetry and ``/metrics`` tests both assert on:

    run 1  startup   success   csv success, coingecko success          (day 1)
    run 2  schedule  partial   csv success, coingecko failed           (day 1, an hour later)
    run 3  schedule  skipped   (another replica held the lock: no sources)
    run 4  manual    running   csv running
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from kasparro.db.outcomes import Counters
from kasparro.db.tables import etl_run_sources, etl_runs

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SourceRun:
    status: str
    finished: datetime | None
    counters: Counters = Counters()  # noqa: RUF009 - a NamedTuple, immutable


@dataclass(frozen=True)
class Run:
    status: str
    trigger: str
    started: datetime
    finished: datetime | None
    sources: Mapping[str, SourceRun]


def write_runs(engine: Engine, runs: list[Run]) -> list[int]:
    """Insert ``runs`` in order (so run ids grow with them); return their ids."""
    ids: list[int] = []
    with engine.begin() as conn:
        for run in runs:
            run_id: int = conn.execute(
                insert(etl_runs).returning(etl_runs.c.id),
                {
                    "status": run.status,
                    "trigger": run.trigger,
                    "started_at": run.started,
                    "finished_at": run.finished,
                },
            ).scalar_one()
            ids.append(run_id)
            for source, part in run.sources.items():
                conn.execute(
                    insert(etl_run_sources),
                    {
                        "run_id": run_id,
                        "source": source,
                        "status": part.status,
                        "started_at": run.started,
                        "finished_at": part.finished,
                        **part.counters._asdict(),
                    },
                )
    return ids


CSV_OK_1 = T0 + timedelta(minutes=1)
GECKO_OK_1 = T0 + timedelta(minutes=2)
CSV_OK_2 = T0 + timedelta(hours=1, minutes=1)
GECKO_FAILED_2 = T0 + timedelta(hours=1, minutes=3)

SCENARIO = [
    Run(
        "success",
        "startup",
        T0,
        GECKO_OK_1,
        {
            "csv": SourceRun(
                "success", CSV_OK_1, Counters(rows_read=10, inserted=8, skipped=1, rejected=1)
            ),
            "coingecko": SourceRun("success", GECKO_OK_1, Counters(rows_read=250, inserted=250)),
        },
    ),
    Run(
        "partial",
        "schedule",
        T0 + timedelta(hours=1),
        GECKO_FAILED_2,
        {
            "csv": SourceRun("success", CSV_OK_2, Counters(rows_read=10, updated=2, unchanged=8)),
            "coingecko": SourceRun("failed", GECKO_FAILED_2),
        },
    ),
    Run("skipped", "schedule", T0 + timedelta(hours=1), T0 + timedelta(hours=1), {}),
    Run(
        "running",
        "manual",
        T0 + timedelta(hours=2),
        None,
        {"csv": SourceRun("running", None, Counters(rows_read=5, inserted=5))},
    ),
]

SCENARIO_ROWS = {
    "csv": {
        "read": 25,
        "inserted": 13,
        "updated": 2,
        "unchanged": 8,
        "skipped": 1,
        "rejected": 1,
    },
    "coingecko": {
        "read": 250,
        "inserted": 250,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 0,
    },
}
