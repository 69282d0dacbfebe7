"""A least-recently-used cache bounded by the estimated bytes of what it holds.

An entry count alone bounds nothing: one parsed GraphQL document of 5,000 tokens holds
about 3 MB, one with a 1 MB string literal 2 MB, so 512 of them are gigabytes. Here each
entry is put with its size (an estimate the caller makes), the cache holds at most
``max_bytes`` in all, and an entry larger than ``max_bytes // ENTRY_SHARE`` is not kept at
all: a few huge documents cannot push out every small, frequent one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

ENTRY_SHARE = 16
"""An entry may take at most this fraction (1/16) of the cache."""


class ByteLRU(Generic[K, V]):
    """``get``/``put`` by key; least recently used out first when over ``max_bytes``.

    Thread-safe: costly queries execute in a worker thread (``gql.offload``).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // ENTRY_SHARE
        self.bytes = 0
        """Estimated bytes held now."""
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        """The value held for ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, size: int) -> bool:
        """Hold ``value`` under ``key``, evicting the least recently used as needed; False
        (and nothing held) when ``size`` is over the per-entry limit."""
        with self._lock:
            self._discard(key)
            if size > self.max_entry_bytes:
                return False
            self._entries[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.bytes -= evicted
            return True

    def discard(self, key: K) -> None:
        """Forget ``key`` if held."""
        with self._lock:
            self._discard(key)

    def _discard(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]
