"""Progress events and summaries reported by a run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kasparro.db.outcomes import COUNTERS, Counters, RunStatus

__all__ = ["Counters", "ProgressEvent", "RunSummary", "SourceSummary"]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """``kind`` is ``source_started``, ``batch`` (after each committed batch, with the
    source's running totals) or ``source_finished`` (with ``status`` and ``error``)."""

    source: str
    kind: str
    counters: Counters = Counters()  # noqa: RUF009 - a NamedTuple, immutable
    status: RunStatus | None = None
    error: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SourceSummary:
    """One source's part of a run.

    ``status`` is ``success``, ``failed`` or ``skipped`` (not started because the run was
    stopped first). An unchanged CSV file is ``success`` with ``rows_read == 0`` and a
    ``note`` saying it was not read.
    """

    source: str
    status: RunStatus
    counters: Counters
    error: str | None
    duration_ms: int
    checkpoint_before: datetime | None = None
    checkpoint_after: datetime | None = None
    note: str | None = None

    def __getattr__(self, name: str) -> int:
        """A counter by its name: ``summary.inserted`` is ``summary.counters.inserted``."""
        if name in COUNTERS:
            return int(getattr(self.counters, name))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A whole run. ``status``: ``success`` (every source succeeded), ``partial`` (some
    failed), ``failed`` (all failed, or the run was stopped), ``skipped`` (another run held
    the ETL lock; nothing was done). ``recorded`` is False when the database would not take
    the run's end (it is owed: ``etl.bookkeeping``); the ``etl_runs`` row still says
    ``running`` meanwhile."""

    run_id: int | None
    status: RunStatus
    sources: tuple[SourceSummary, ...]
    trigger: str = "manual"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int = 0
    error: str | None = None
    recorded: bool = True
