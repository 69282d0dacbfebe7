"""``Throttle``: the first report of a kind, then one per interval with the count held back."""

from __future__ import annotations

from kasparro.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_report_per_kind_and_interval_with_the_count_of_the_others() -> None:
    clock = Clock()
    throttle = Throttle(10, clock=clock)
    assert throttle.admit("emfile") == 0
    assert [throttle.admit("emfile") for _ in range(50_000)] == [None] * 50_000
    assert throttle.admit("refused") == 0  # another kind is not held back by the first
    clock.now += 9.9
    assert throttle.admit("emfile") is None
    clock.now += 0.1
    assert throttle.admit("emfile") == 50_001
    assert throttle.admit("emfile") is None
    clock.now += 10
    assert throttle.admit("emfile") == 1


def test_the_kinds_it_remembers_are_bounded() -> None:
    clock = Clock()
    throttle = Throttle(10, max_kinds=3, clock=clock)
    for kind in range(1000):
        assert throttle.admit(kind) == 0
    assert len(throttle._kinds) == 3
    assert throttle.admit(999) is None  # the newest kinds are the ones kept
    assert throttle.admit(0) == 0
