"""The run log's vocabulary: the statuses a run and each of its sources take.

Declared once here; the run log (``db.runs``), the ETL's summaries, the CLI's exit codes,
the GraphQL ``RunStatus`` enum, the REST bodies, the OpenAPI document and the metrics all
take their values from these declarations.
"""

from __future__ import annotations

import enum


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
