"""After a stop request, cancel what keeps a run from seeing it.

A run checks its stop flag between batches. A statement that blocks (a ``COPY`` waiting for
a table another session locked) keeps it from getting there, and a shutdown must not wait
for that. ``StopWatchdog.arm`` (called once the stop is requested) waits ``grace`` seconds
for the run to end by itself, then cancels its database statements
(``db.cancel.StatementCanceller``), again every ``REPEAT_SECONDS`` while a run is still in
flight (a statement started after a cancel is cancelled in its turn), for at most
``MAX_SECONDS``. It runs in a daemon thread: a signal handler can arm it, and it never keeps
the process alive.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kasparro.db.cancel import StatementCanceller

log = logging.getLogger(__name__)

REPEAT_SECONDS = 0.5
MAX_SECONDS = 60.0


class StopWatchdog:
    """Cancels a stopped run's statements after a grace period (see the module docstring)."""

    def __init__(
        self, canceller: StatementCanceller, grace: float, running: Callable[[], bool]
    ) -> None:
        self._canceller = canceller
        self._grace = grace
        self._running = running
        self._armed = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    def arm(self) -> None:
        """Start watching (once; later calls do nothing). Safe from a signal handler."""
        if not self._armed.acquire(blocking=False):
            return
        self._thread = threading.Thread(target=self._watch, name="etl-stop-watchdog", daemon=True)
        self._thread.start()

    def disarm(self) -> None:
        """Stop watching (the runs have ended)."""
        self._done.set()

    def _watch(self) -> None:
        if self._done.wait(self._grace):
            return
        waited = self._grace
        while self._running() and waited < MAX_SECONDS:
            asked = self._canceller.cancel_all()
            if asked and waited == self._grace:
                log.warning(
                    "ETL run still busy %gs after the stop request: cancelling its database "
                    "statements (%d connection(s))",
                    waited,
                    asked,
                )
            if self._done.wait(REPEAT_SECONDS):
                return
            waited += REPEAT_SECONDS
