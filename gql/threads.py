"""Capacity limiters for work sent to worker threads, one per event loop.

A limiter waits on the event loop it was first used on, and the application runs more than
one: its own, and one per costly query executing in a worker thread (``gql.offload``). So a
part that bounds its threads holds a ``LoopLimiters`` and asks it for the running loop's.
"""

from __future__ import annotations

import asyncio
from weakref import WeakKeyDictionary

from anyio import CapacityLimiter


class LoopLimiters:
    """A ``CapacityLimiter`` of ``tokens`` for each running event loop."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self._limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
            WeakKeyDictionary()
        )

    def __call__(self) -> CapacityLimiter:
        """The running loop's limiter (made on first use)."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters.setdefault(loop, CapacityLimiter(self.tokens))
        return limiter
