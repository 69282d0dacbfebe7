"""Subscribers of one kind of change, grouped by filter, each with a bounded buffer.

A change is matched against each distinct filter once, whatever the number of subscribers
that share it, and handed to each of them without copying. A subscriber keeps what its
client has not taken yet in ``Subscriber``: while it keeps nothing a new change is kept as
handed over; when its client falls behind, the values waiting are coalesced by key (a
newer price of the same asset and source replaces the waiting one: the client gets the
newest value, never a queue of stale ones). A subscriber with more than ``max_pending``
values waiting, or whose values have waited longer than ``max_lag`` seconds, fails
(``SlowConsumer``): its ``on_fail`` closes the client's socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
F = TypeVar("F", bound=Hashable)


class SlowConsumer(Exception):
    """A subscriber's client took its values too slowly (the message says which bound)."""


class Subscriber(Generic[T]):
    """What one subscription's client has not taken yet (see the module docstring)."""

    __slots__ = ("_batches", "_count", "_since", "_wake", "failed", "key", "limits", "on_fail")

    def __init__(
        self,
        key: Callable[[T], Hashable],
        limits: tuple[int, float],
        on_fail: Callable[[str], None],
    ) -> None:
        self.key = key
        self.limits = limits
        """``(max_pending, max_lag)``."""
        self.on_fail = on_fail
        self.failed: str | None = None
        self._batches: list[Sequence[T]] = []
        self._count = 0
        self._since = 0.0
        self._wake = asyncio.Event()

    @property
    def pending(self) -> int:
        """Values waiting for the client."""
        return self._count

    def offer(self, values: Sequence[T], now: float) -> None:
        """Keep ``values`` for the client (on the event loop; never blocks)."""
        if not values or self.failed is not None:
            return
        max_pending, max_lag = self.limits
        if not self._batches:
            self._batches, self._count, self._since = [values], len(values), now
        else:
            merged = self._merged(values)
            self._batches, self._count = [merged], len(merged)
            if now - self._since > max_lag:
                self._fail(f"took none of its waiting values for {max_lag:g} s")
                return
        if self._count > max_pending:
            self._fail(f"had more than {max_pending} values waiting")
            return
        self._wake.set()

    def _merged(self, values: Sequence[T]) -> list[T]:
        newest: dict[Hashable, T] = {}
        key = self.key
        for batch in (*self._batches, values):
            for value in batch:
                found = key(value)
                newest.pop(found, None)  # the newer value goes last, as it came
                newest[found] = value
        return list(newest.values())

    def _fail(self, why: str) -> None:
        self.failed = f"subscription closed: its client {why} (a slow consumer)"
        self._batches, self._count = [], 0
        self._wake.set()
        self.on_fail(self.failed)

    async def take(self) -> Sequence[T]:
        """The values waiting, once there are some; ``SlowConsumer`` once it failed."""
        while not self._batches:
            if self.failed is not None:
                raise SlowConsumer(self.failed)
            self._wake.clear()
            await self._wake.wait()
        batches = self._batches
        taken = batches[0] if len(batches) == 1 else self._merged(())
        self._batches, self._count = [], 0
        return taken


class Fanout(Generic[T, F]):
    """The subscribers of one kind of change, by filter (see the module docstring).

    ``index(wanted)`` names keys under which a value can match the filter (None: any value
    may, the filter is checked against each); ``keys(value)`` names the value's own keys.
    A value is then checked only against the filters filed under one of its keys: 1,000
    subscribers each watching one asset cost a dictionary lookup per value, not 1,000
    checks. A filter must be filed under keys of one kind only (each value has one key of
    each kind), so that a value meets it at most once.
    """

    def __init__(
        self,
        matches: Callable[[F, T], bool],
        index: Callable[[F], Iterable[Hashable] | None] = lambda wanted: None,
        keys: Callable[[T], Iterable[Hashable]] = lambda value: (),
    ) -> None:
        self._matches = matches
        self._index = index
        self._keys = keys
        self._groups: dict[F, set[Subscriber[T]]] = {}
        self._filed: dict[Hashable, set[F]] = {}
        self._scanned: set[F] = set()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, wanted: F, subscriber: Subscriber[T]) -> None:
        group = self._groups.get(wanted)
        if group is None:
            group = self._groups[wanted] = set()
            filed = self._index(wanted)
            if filed is None:
                self._scanned.add(wanted)
            else:
                for key in filed:
                    self._filed.setdefault(key, set()).add(wanted)
        if subscriber not in group:
            group.add(subscriber)
            self._count += 1

    def remove(self, wanted: F, subscriber: Subscriber[T]) -> None:
        group = self._groups.get(wanted)
        if group is None or subscriber not in group:
            return
        group.discard(subscriber)
        self._count -= 1
        if group:
            return
        del self._groups[wanted]
        filed = self._index(wanted)
        if filed is None:
            self._scanned.discard(wanted)
            return
        for key in filed:
            found = self._filed.get(key)
            if found is not None:
                found.discard(wanted)
                if not found:
                    del self._filed[key]

    def publish(self, values: Sequence[T], now: float) -> int:
        """Hand ``values`` to every subscriber whose filter matches; return how many
        values were handed over in all."""
        matches = self._matches
        picked: dict[F, list[T]] = {}
        if self._filed:
            for value in values:
                for key in self._keys(value):
                    for wanted in self._filed.get(key, ()):
                        if matches(wanted, value):
                            picked.setdefault(wanted, []).append(value)
        for wanted in self._scanned:
            chosen = [value for value in values if matches(wanted, value)]
            if chosen:
                picked[wanted] = chosen
        handed = 0
        for wanted, chosen in picked.items():
            group = self._groups[wanted]
            for subscriber in list(group):
                subscriber.offer(chosen, now)
            handed += len(chosen) * len(group)
        return handed
