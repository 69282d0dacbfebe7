"""What a serving process reads to learn that the store changed (``gql.feed``).

Two things change under subscribers: the newest prices (``latest_records``, whose writers
move the ``latest_version`` counter, ``db.latest.bump``) and the run log (``etl_runs``,
``etl_run_sources``, ``db.runs``). On PostgreSQL each of those writes also sends a
notification on ``CHANNEL`` in its own transaction (``notify``), so it is delivered only
when the change commits and never for a change rolled back; a listening process reads
the store again when one arrives. SQLite has no notifications: a process reads the counter
and the runs it follows on a timer instead. Either way, these reads are the only ones: one
per process per change, whatever the number of subscribers.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import Connection, func, or_, select, text

from kasparro.db.outcomes import RunStatus
from kasparro.db.queries import RUN_COLUMNS, DbRow, run_sources_by_run
from kasparro.db.tables import etl_runs

CHANNEL = "kasparro_changes"
"""The PostgreSQL notification channel of every change a subscriber may hear of."""
PRICES = "prices"
"""Payload: ``latest_records`` changed (the counter moved)."""
RUNS = "runs"
"""Payload: the run log changed (a run or a source started, progressed or ended)."""

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def notify(conn: Connection, payload: str) -> None:
    """Tell listening processes, when ``conn``'s transaction commits, that ``payload``
    changed (PostgreSQL; nothing on SQLite, whose readers poll). PostgreSQL folds the same
    payload sent twice in one transaction into one notification."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})


class RunState(NamedTuple):
    """One run as a subscriber sees it: its ``etl_runs`` row and its sources' rows."""

    run: DbRow
    sources: list[DbRow]

    def signature(self) -> tuple[object, ...]:
        """What tells two readings of the run apart (its status and every source's
        status and counters)."""
        return (
            self.run.status,
            self.run.finished_at,
            *(tuple(row) for row in self.sources),
        )

    def stage(self) -> tuple[object, ...]:
        """The run's and its sources' statuses: a change here is a step (started, a source
        started or finished, finished), not mere progress."""
        return (self.run.status, *((row.source, row.status) for row in self.sources))


def newest_run_id(conn: Connection) -> int:
    """The highest run id so far (0 before the first run)."""
    newest: int | None = conn.execute(select(func.max(etl_runs.c.id))).scalar()
    return newest or 0


def running_ids(conn: Connection) -> list[int]:
    """The runs still ``running``."""
    query = select(etl_runs.c.id).where(etl_runs.c.status == RunStatus.RUNNING)
    return list(conn.execute(query).scalars())


def run_states(conn: Connection, after: int, followed: Collection[int]) -> list[RunState]:
    """The runs newer than ``after`` and those in ``followed``, with their sources, by id."""
    condition = etl_runs.c.id > after
    if followed:
        condition = or_(condition, etl_runs.c.id.in_(list(followed)))
    query = select(*RUN_COLUMNS).where(condition)
    rows = list(conn.execute(query.order_by(etl_runs.c.id)).all())
    sources = run_sources_by_run(conn, [row.id for row in rows])
    return [RunState(row, sources[row.id]) for row in rows]
