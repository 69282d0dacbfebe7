"""Repeated log lines at a bounded rate: the first of a kind, then one per interval.

A server under attack or out of resources fails the same way thousands of times a second
(an ``accept()`` failing with "Too many open files", connections refused at the limit).
Logging each one fills the disk faster than the attack costs the attacker, so such reports
go through a ``Throttle``: the first report of a kind is logged, the next ones within
``interval`` seconds are only counted, and the first one after the interval is logged with
that count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(slots=True)
class _Kind:
    logged_at: float
    suppressed: int = 0


class Throttle:
    """Decides which of many repeated reports to log; ``admit`` is the whole interface.

    At most ``max_kinds`` kinds are remembered (the oldest is forgotten first), so a caller
    that keys by something varying cannot grow it without bound. Not thread-safe: use one
    per event loop.
    """

    def __init__(
        self,
        interval: float,
        *,
        max_kinds: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._max_kinds = max_kinds
        self._clock = clock
        self._kinds: dict[Hashable, _Kind] = {}

    def admit(self, kind: Hashable) -> int | None:
        """None when this report should not be logged; else how many were suppressed
        since the last one of this kind that was logged (0 for the first)."""
        now = self._clock()
        seen = self._kinds.get(kind)
        if seen is not None and now - seen.logged_at < self.interval:
            seen.suppressed += 1
            return None
        suppressed = seen.suppressed if seen is not None else 0
        self._kinds.pop(kind, None)
        if len(self._kinds) >= self._max_kinds:
            del self._kinds[next(iter(self._kinds))]
        self._kinds[kind] = _Kind(now)
        return suppressed
