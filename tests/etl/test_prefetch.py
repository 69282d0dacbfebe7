"""The read-ahead worker: order, bounded look-ahead, errors raised in the consumer, and
closing early stops the worker and closes the source in the worker's thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from kasparro.etl.prefetch import prefetched
from tests.support.waiting import holds_for, wait_until


class Source:
    """A generator source that records how far it was read, where, and whether it closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.produced = 0
        self.closed_in: str | None = None

    def items(self) -> Iterator[int]:
        try:
            for index in range(self.count):
                if index == self.fail_at:
                    raise ValueError(f"bad item {index}")
                self.produced += 1
                yield index
        finally:
            self.closed_in = threading.current_thread().name


def test_items_arrive_in_order_and_the_source_closes_in_the_worker() -> None:
    source = Source(50)
    assert list(prefetched(source.items(), depth=2)) == list(range(50))
    assert source.closed_in == "etl-prefetch"


def test_the_worker_reads_at_most_depth_items_ahead() -> None:
    source = Source(100)
    items = prefetched(source.items(), depth=2)
    assert next(items) == 0
    # one handed over, two queued, one held by the worker waiting for room; no more
    wait_until(lambda: source.produced >= 4, 10, "the worker to fill the queue")
    holds_for(lambda: source.produced == 4, 0.3, "at most depth items ahead")
    items.close()


def test_an_error_in_the_source_is_raised_in_the_consumer_after_the_good_items() -> None:
    source = Source(10, fail_at=3)
    seen: list[int] = []
    with pytest.raises(ValueError, match="bad item 3"):
        for item in prefetched(source.items()):
            seen.append(item)
    assert seen == [0, 1, 2]


def test_closing_early_stops_the_worker_and_closes_the_source() -> None:
    source = Source(1_000_000)
    items = prefetched(source.items(), depth=1)
    assert [next(items), next(items)] == [0, 1]
    before = threading.active_count()
    items.close()
    assert source.closed_in == "etl-prefetch"
    assert source.produced < 10
    assert threading.active_count() == before - 1
