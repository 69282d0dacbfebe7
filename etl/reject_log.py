"""What one source's run does with its rejects: store a bounded number, tally them all.

Every reject is counted (``rejected``), but only the first ``max_stored`` of a source's run
are written to ``rejects``; the run's record then says how many were not
(``RejectLog.note``). Each reject is also tallied by its kind (its reason without the
offending value), so that a source rejecting more than ``max_ratio`` of what it read can
fail naming the likely drift: "current_price is missing in 120 of 120 read" says an
upstream renamed a field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from kasparro.etl.model import Reject

KINDS_KEPT = 100
"""Distinct kinds tallied; kinds carry no values, so real inputs have a handful."""
OTHER = "other problems"
SHOWN_KINDS = 3
"""Kinds named in a drift error."""


class RejectLog:
    """Tallies the rejects of one source's run by kind and decides which are stored."""

    def __init__(self, max_stored: int, max_ratio: float) -> None:
        self.max_stored = max_stored
        self.max_ratio = max_ratio
        self._kinds: Counter[str] = Counter()

    def take(self, rejects: Sequence[Reject], stored: int) -> Sequence[Reject]:
        """Tally ``rejects``; return those to store when ``stored`` are stored already."""
        for reject in rejects:
            kind = reject.kind
            if kind not in self._kinds and len(self._kinds) >= KINDS_KEPT:
                kind = OTHER
            self._kinds[kind] += 1
        return rejects[: max(0, self.max_stored - stored)]

    def commonest(self, count: int = SHOWN_KINDS) -> list[tuple[str, int]]:
        """The ``count`` commonest kinds of reject so far, with how many of each."""
        return self._kinds.most_common(count)

    def note(self, rejected: int, stored: int) -> str | None:
        """What the run's record says about rejects not stored, if any were not."""
        if rejected <= stored:
            return None
        return (
            f"{rejected - stored:,} of {rejected:,} rejects not stored "
            f"(ETL_MAX_REJECTS_STORED keeps the first {self.max_stored:,} per source and run)"
        )

    def drift(self, read: int, rejected: int) -> str | None:
        """The error of a source that rejected more than ``max_ratio`` of what it read, naming
        the commonest kinds; None when it did not."""
        if not read or rejected <= self.max_ratio * read:
            return None
        common = "; ".join(
            f"{kind} in {count:,} of {read:,} read" for kind, count in self.commonest()
        )
        return (
            f"likely schema drift: {rejected:,} of {read:,} read were rejected, more than "
            f"ETL_MAX_REJECT_RATIO {self.max_ratio:g} allows; {common} (see rejects)"
        )
