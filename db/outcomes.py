"""The run log's vocabulary: the statuses a run and each of its sources take, and the
counters of what a source did with the rows it read.

Declared once here; the run log (``db.tables``, ``db.runs``), the store's figures
(``db.queries``), the ETL's progress and summaries, the CLI's table and exit codes, the
GraphQL types, the REST bodies, the OpenAPI document and the metrics all take their names
from these declarations.
"""

from __future__ import annotations

import enum
import operator
from typing import NamedTuple


class RunStatus(enum.StrEnum):
    """What a run, or one source within it, is doing or ended as.

    The member's value is how the run log stores it and how REST spells it; GraphQL names
    the member (``SUCCESS``).
    """

    RUNNING = "running"
    """Started and not finished (or left behind by a process that died)."""
    SUCCESS = "success"
    """Every source succeeded (a source: it did its work)."""
    PARTIAL = "partial"
    """A run only: some of its sources failed."""
    FAILED = "failed"
    """Every source failed, or the run was stopped (a source: it failed)."""
    SKIPPED = "skipped"
    """A run: another process held the ETL lock, nothing was done. A source: not started
    because the run was stopped first."""


SOURCE_STATUSES = tuple(status for status in RunStatus if status is not RunStatus.PARTIAL)
"""The statuses a source run can have (a whole run can also be ``partial``)."""

FINAL_STATUSES = tuple(status for status in RunStatus if status is not RunStatus.RUNNING)
"""The statuses a run ends with."""


class Counters(NamedTuple):
    """What a source run did with the rows it read; ``etl_run_sources`` has a column of
    each name. ``rows_read`` is every row or item read: valid plus ``rejected``."""

    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0

    def plus(self, other: Counters) -> Counters:
        return Counters(*map(operator.add, self, other))


COUNTERS = Counters._fields
"""The counters' names, in order."""


def counter_label(name: str) -> str:
    """A counter's short label in tables, progress lines and metrics (``read``)."""
    return name.removeprefix("rows_")
