"""SIGTERM and SIGINT for a run in the foreground (``kasparro etl``): stop, then record.

The first signal asks the run to stop: the source ends at its next batch boundary with its
work committed (a fetch in flight is cut at once), the sources after it are skipped, and
the run is recorded ``failed`` / ``stopped`` before the process exits, as under
``kasparro serve``. A database statement that blocks (a ``COPY`` waiting for a locked
table) is cancelled after ETL_STOP_GRACE_SECONDS (``etl.watchdog``); a second signal
cancels it at once. The run's own records are never cancelled, so the run is recorded
either way. The exit status is then 128 + the first signal's number (143 for SIGTERM, 130
for SIGINT).

The signals are not handled by Python handlers, which run only in the main thread and only
between bytecodes, so a main thread blocked in a database call would not see them until
the call ended. They are blocked in every thread (``pthread_sigmask`` before any thread is
started) and taken by a listener thread of their own (``sigtimedwait``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import TracebackType

SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
POLL_SECONDS = 0.2
"""How often the listener looks whether the run is over."""


class StopOnSignal:
    """While the block runs, SIGTERM / SIGINT call ``first(signum)`` once, then ``again()``
    for each later one; ``received`` is the first signal's number, or None."""

    def __init__(self, first: Callable[[int], None], again: Callable[[], None]) -> None:
        self._first = first
        self._again = again
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="etl-signals", daemon=True)
        self._previous: set[int | signal.Signals] = set()
        self.received: int | None = None

    def __enter__(self) -> StopOnSignal:
        self._previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()
        # A signal that came after the listener's last look: taken here, never by default.
        while (late := signal.sigtimedwait(SIGNALS, 0)) is not None:
            self._take(late.si_signo)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._previous)

    def _listen(self) -> None:
        while not self._done.is_set():
            info = signal.sigtimedwait(SIGNALS, POLL_SECONDS)
            if info is not None:
                self._take(info.si_signo)

    def _take(self, signum: int) -> None:
        if self.received is None:
            self.received = signum
            self._first(signum)
        else:
            self._again()
