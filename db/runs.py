"""Write helpers for the run log: ``etl_runs`` and ``etl_run_sources``.

A run is inserted as ``running`` and finished as success / partial / failed; a run that
found another one holding the ETL lock is recorded as ``skipped``. A run still ``running``
when a new run takes the lock was left behind by a process that died: ``reconcile_stale``
marks it (and its sources) ``failed`` with an error that says so.

A run's last words (``RunFinal``: its status, and the end of any source whose own end could
not be written) are written by ``record_final`` in one transaction, and only while the run
is still ``running``: written late (the database refused it at first), it never overwrites
what another process recorded meanwhile.

Every write here notifies the serving processes on PostgreSQL (``db.changes``), so
``etlRunEvents`` subscribers hear of it once it commits.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, func, insert, select, update

from kasparro.db.changes import RUNS, notify
from kasparro.db.load import forget_position
from kasparro.db.outcomes import COUNTERS, RunStatus
from kasparro.db.tables import etl_run_sources, etl_runs
from kasparro.db.types import storable_text


def start_run(
    conn: Connection, trigger: str, now: datetime, status: RunStatus = RunStatus.RUNNING
) -> int:
    """Insert a run row; return its id."""
    result = conn.execute(
        insert(etl_runs)
        .values(
            status=status,
            trigger=trigger,
            started_at=now,
            host=socket.gethostname()[:255],
            pid=os.getpid(),
        )
        .returning(etl_runs.c.id)
    )
    run_id: int = result.scalar_one()
    notify(conn, RUNS)
    return run_id


def last_start(conn: Connection) -> datetime | None:
    """When the newest run that was not ``skipped`` started; None before the first."""
    query = select(func.max(etl_runs.c.started_at)).where(etl_runs.c.status != RunStatus.SKIPPED)
    started: datetime | None = conn.execute(query).scalar()
    return started


def finish_run(
    conn: Connection, run_id: int, status: RunStatus, now: datetime, error: str | None = None
) -> None:
    conn.execute(
        update(etl_runs)
        .where(etl_runs.c.id == run_id)
        .values(status=status, finished_at=now, error=_storable(error))
    )
    notify(conn, RUNS)


def reconcile_stale(conn: Connection, now: datetime, by_run: int | None = None) -> int:
    """Mark every ``running`` run and source run as ``failed``; return how many runs.

    Call only while holding the ETL lock: then no live process owns a ``running`` run.
    """
    reason = "interrupted: the process running it ended before it finished" + (
        f" (found by run {by_run})" if by_run is not None else ""
    )
    stale = (
        conn.execute(
            update(etl_runs)
            .where(etl_runs.c.status == RunStatus.RUNNING)
            .values(status=RunStatus.FAILED, finished_at=now, error=reason)
            .returning(etl_runs.c.id)
        )
        .scalars()
        .all()
    )
    if stale:
        conn.execute(
            update(etl_run_sources)
            .where(
                etl_run_sources.c.run_id.in_(stale), etl_run_sources.c.status == RunStatus.RUNNING
            )
            .values(status=RunStatus.FAILED, finished_at=now, error=reason)
        )
        notify(conn, RUNS)
    return len(stale)


def start_source(
    conn: Connection, run_id: int, source: str, now: datetime, checkpoint: datetime | None
) -> None:
    conn.execute(
        insert(etl_run_sources).values(
            run_id=run_id,
            source=source,
            status=RunStatus.RUNNING,
            started_at=now,
            rows_read=0,
            inserted=0,
            updated=0,
            unchanged=0,
            skipped=0,
            rejected=0,
            checkpoint_before=checkpoint,
            checkpoint_after=checkpoint,
        )
    )
    notify(conn, RUNS)


def update_source(
    conn: Connection,
    run_id: int,
    source: str,
    counters: Mapping[str, int],
    *,
    checkpoint: datetime | None,
    status: RunStatus = RunStatus.RUNNING,
    error: str | None = None,
    note: str | None = None,
    finished_at: datetime | None = None,
) -> None:
    """Store a source run's counters (and, when it ends, its status, error and note)."""
    conn.execute(
        update(etl_run_sources)
        .where(etl_run_sources.c.run_id == run_id, etl_run_sources.c.source == source)
        .values(
            status=status,
            error=_storable(error),
            note=_storable(note),
            finished_at=finished_at,
            checkpoint_after=checkpoint,
            **{key: counters[key] for key in COUNTERS},
        )
    )
    notify(conn, RUNS)


class SourceFinal(NamedTuple):
    """How one source of a run ended: ``update_source``'s arguments."""

    source: str
    counters: Mapping[str, int]
    checkpoint: datetime | None
    status: RunStatus
    error: str | None
    finished_at: datetime
    note: str | None = None
    forget_position: bool = False
    """A file source that drifted: clear its resume position, so the next run reads it all."""


class RunFinal(NamedTuple):
    """How a run ended, with the ends of sources not yet written (``record_final``)."""

    run_id: int
    status: RunStatus
    error: str | None
    finished_at: datetime
    sources: tuple[SourceFinal, ...] = ()


def record_source_end(conn: Connection, run_id: int, end: SourceFinal) -> None:
    """Write how one source of run ``run_id`` ended."""
    if end.forget_position:
        forget_position(conn, end.source)
    update_source(
        conn,
        run_id,
        end.source,
        end.counters,
        checkpoint=end.checkpoint,
        status=end.status,
        error=end.error,
        note=end.note,
        finished_at=end.finished_at,
    )


def record_final(conn: Connection, final: RunFinal) -> bool:
    """Write ``final`` if the run is still ``running``: the run, its sources' ends, and any
    other source of it still ``running`` as failed with the run's error. Returns whether it
    was written (False: another process ended the run meanwhile, and nothing changes)."""
    changed = conn.execute(
        update(etl_runs)
        .where(etl_runs.c.id == final.run_id, etl_runs.c.status == RunStatus.RUNNING)
        .values(status=final.status, finished_at=final.finished_at, error=_storable(final.error))
    )
    if not changed.rowcount:
        return False
    for source in final.sources:
        record_source_end(conn, final.run_id, source)
    conn.execute(
        update(etl_run_sources)
        .where(
            etl_run_sources.c.run_id == final.run_id, etl_run_sources.c.status == RunStatus.RUNNING
        )
        .values(
            status=RunStatus.FAILED, finished_at=final.finished_at, error=_storable(final.error)
        )
    )
    notify(conn, RUNS)
    return True


def _storable(text: str | None) -> str | None:
    """A message the databases can hold (NUL, e.g. from a UTF-16 header, as U+FFFD)."""
    return None if text is None else storable_text(text)
