"""Waiting in tests for something another thread or process does: ``wait_until`` polls a
condition until it holds or a deadline passes, instead of a fixed sleep (too short on a busy
machine, too long everywhere else) or a hand-written polling loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

INTERVAL = 0.02
"""Seconds between two looks: short against the waits, long enough not to busy a core."""


def wait_until(
    condition: Callable[[], T | None],
    timeout: float = 10.0,
    what: str | Callable[[], str] = "",
    interval: float = INTERVAL,
) -> T:
    """Call ``condition`` until it returns a truthy value, and return that value.

    Fails the test (``AssertionError``) once ``timeout`` seconds pass, naming ``what`` was
    awaited (a callable is called then, to report the state at the end) and the last value.
    An exception raised by ``condition`` propagates: catch in it what is expected meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            name = said or getattr(condition, "__name__", "the condition")
            raise AssertionError(f"waited {timeout:g} s for {name}; last {value!r}")
        time.sleep(interval)


def holds_for(condition: Callable[[], object], seconds: float, what: str = "") -> None:
    """Check ``condition`` again and again for ``seconds``: it must hold all that while
    (e.g. a bounded worker, once it reached its bound, does not go past it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), f"stopped holding: {what or getattr(condition, '__name__', '')}"
        time.sleep(INTERVAL)


def seconds_until(
    condition: Callable[[], object | None],
    timeout: float = 10.0,
    what: str | Callable[[], str] = "",
    interval: float = INTERVAL,
) -> float:
    """``wait_until``, returning the seconds the wait took (for recorded figures)."""
    started = time.monotonic()
    wait_until(condition, timeout, what, interval)
    return time.monotonic() - started


def after_a_run(health: dict[str, Any]) -> dict[str, Any] | None:
    """A ``/health`` answer once an ETL run has ended, else None: what a wait on a started
    server polls for (``wait_until(lambda: after_a_run(client.get("/health").json()))``)."""
    return None if health["etl_last_run"] in ("never", "running") else health
