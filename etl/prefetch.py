"""Read ahead: run an iterator in a worker thread, at most ``depth`` items ahead of its consumer.

A file source parses and validates its next chunk while the loader waits for the database
to write the current one (psycopg2 releases the GIL while the server works), so the two
costs overlap instead of adding up. The queue is bounded: memory stays at a few chunks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.1


def prefetched(items: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """Yield what ``items`` yields, computed in a worker thread; re-raise its errors here.

    Closing the returned generator (or leaving it) stops the worker and closes ``items`` in
    the worker's own thread.
    """
    ready: queue.Queue[tuple[bool, T | BaseException | None]] = queue.Queue(maxsize=depth)
    closing = threading.Event()

    def offer(entry: tuple[bool, T | BaseException | None]) -> bool:
        while not closing.is_set():
            try:
                ready.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((True, item)):
                    return
            offer((False, None))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            offer((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="etl-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            is_item, value = ready.get()
            if is_item:
                yield value  # type: ignore[misc]
            elif isinstance(value, BaseException):
                raise value
            else:
                return
    finally:
        closing.set()
        worker.join()
