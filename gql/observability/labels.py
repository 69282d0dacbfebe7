"""Which GraphQL operation names get a metrics label of their own.

Clients choose operation names, so the label needs a bound, and a bound that goes to the
first names seen lets any client spend it: send 200 random names and every real operation
after them counts as ``other``. Here a name earns a label by succeeding, and keeps it by
being used:

- an operation that failed never earns a label (its name counts as ``other`` unless it has
  one already), so invalid or refused documents spend nothing;
- while fewer than ``capacity`` names hold a label, a successful name takes one;
- after that, a name holds a label only while it is among the most used: every successful
  operation adds 1 to its name's score, and a name without a label takes the label of the
  lowest-scored holder once its own score is more than ``TAKEOVER`` times that holder's.
  The holder's series are removed (``on_evict``) and its score kept as a candidate's;
- scores of names without a label are kept for at most ``candidates`` names; when that
  table is full the lowest score goes, the oldest of equals first.

So a flood of random names, each used a few times, cannot take the label of an operation
used more often than they are, nor keep a new real operation from earning one: repeated
successes lift it above the flood's scores, which stay where the flood left them. What an
attacker can do is use each of ``capacity`` names more often than the real operations are
used; then real ones count as ``other``, and the labels still number at most ``capacity``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

OTHER = "other"
TAKEOVER = 2


class OperationLabels:
    """The label of each operation name; see the module docstring for the rules."""

    def __init__(
        self, capacity: int, candidates: int, on_evict: Callable[[str], None] = lambda _: None
    ) -> None:
        self.capacity = capacity
        self.max_candidates = candidates
        self._on_evict = on_evict
        self._held: dict[str, int] = {}
        """Names with a label, and their scores."""
        self._candidates: dict[str, int] = {}
        """Names without a label that succeeded, and their scores (oldest first)."""
        self._lock = threading.Lock()

    @property
    def held(self) -> frozenset[str]:
        """The names that have a label now."""
        with self._lock:
            return frozenset(self._held)

    @property
    def candidates(self) -> dict[str, int]:
        """Names without a label, and their scores."""
        with self._lock:
            return dict(self._candidates)

    def label(self, name: str, ok: bool) -> str:
        """The label to count an operation named ``name`` under (``ok``: it succeeded)."""
        evicted = None
        with self._lock:
            if name in self._held:
                if ok:
                    self._held[name] += 1
                return name
            if not ok:
                return OTHER
            score = self._candidates.pop(name, 0) + 1
            if len(self._held) < self.capacity:
                self._held[name] = score
                return name
            weakest = min(self._held, key=self._held.__getitem__)
            if score <= TAKEOVER * self._held[weakest]:
                self._remember(name, score)
                return OTHER
            self._remember(weakest, self._held.pop(weakest))
            self._held[name] = score
            evicted = weakest
        self._on_evict(evicted)
        return name

    def _remember(self, name: str, score: int) -> None:
        self._candidates[name] = score
        if len(self._candidates) > self.max_candidates:
            lowest = min(self._candidates, key=self._candidates.__getitem__)
            del self._candidates[lowest]
