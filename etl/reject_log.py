"""What one source's run does with its rejects: keep a bounded number, tally them all.

Every reject is counted (``Chunk.rejected``, then the run's ``rejected``), but only the
first ``max_stored`` of a source's run are kept, as ``Reject``s in their chunk, and written
to ``rejects``; the others are not even built (their raw text is never copied), so memory
stays bounded however many rows are bad. The run's record then says how many were not
stored (``RejectLog.note``). A kept reject holds its reason and an excerpt of its raw input:
at most ``RAW_LIMIT`` characters, with the input's whole length noted when it was cut
(``excerpt``).

Each reject is also tallied by its kind (its reason without the offending value), so that a
source rejecting more than ``max_ratio`` of what it read can fail naming the likely drift:
"current_price is missing in 120 of 120 read" says an upstream renamed a field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from kasparro.etl.errors import RecordRejected
from kasparro.etl.model import Chunk, Reject

RAW_LIMIT = 4000
"""Characters of a reject's raw input kept."""
KINDS_KEPT = 100
"""Distinct kinds tallied; kinds carry no values, so real inputs have a handful."""
OTHER = "other problems"
SHOWN_KINDS = 3
"""Kinds named in a drift error."""


def excerpt(text: str, length: int | None = None, unit: str = "characters") -> str:
    """At most ``RAW_LIMIT`` characters of ``text``, the start of a reject's raw input; when
    that is not the whole input, a note of the input's length follows (``length`` in
    ``unit``, given when ``text`` is only its start; else ``len(text)`` characters)."""
    if length is None:
        if len(text) <= RAW_LIMIT:
            return text
        length = len(text)
    return f"{text[:RAW_LIMIT]} [… {length:,} {unit} in all]"


class RejectLog:
    """The rejects of one source's run: tallied by kind, the first ``max_stored`` kept."""

    def __init__(self, max_stored: int, max_ratio: float) -> None:
        self.max_stored = max_stored
        self.max_ratio = max_ratio
        self._kinds: Counter[str] = Counter()
        self._kept = 0

    def add(self, chunk: Chunk, locator: str, why: RecordRejected, raw: Callable[[], str]) -> None:
        """Count a reject at ``locator`` in ``chunk``, and keep it there (``raw()`` gives its
        raw text, called only then) while fewer than ``max_stored`` were kept."""
        kind = why.kind
        if kind not in self._kinds and len(self._kinds) >= KINDS_KEPT:
            kind = OTHER
        self._kinds[kind] += 1
        chunk.rejected += 1
        if self._kept < self.max_stored:
            self._kept += 1
            chunk.rejects.append(Reject(locator, why.reason, raw(), why.kind))

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
