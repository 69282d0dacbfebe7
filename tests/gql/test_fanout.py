"""A subscriber's buffer (``gql.fanout``): coalesced for a slow client, never unbounded,
failed past its bounds; a change matched once per distinct filter."""

from __future__ import annotations

import asyncio

import pytest

from kasparro.gql.fanout import Fanout, SlowConsumer, Subscriber


def _key(value: tuple[str, int]) -> str:
    return value[0]


def _subscriber(
    max_pending: int = 100, max_lag: float = 30.0
) -> tuple[Subscriber[tuple[str, int]], list[str]]:
    closed: list[str] = []
    return Subscriber(_key, (max_pending, max_lag), closed.append), closed


def test_a_client_that_keeps_up_gets_each_change_as_handed_over() -> None:
    async def run() -> None:
        subscriber, closed = _subscriber()
        batch = [("btc", 1), ("eth", 1)]
        subscriber.offer(batch, now=0.0)
        assert await subscriber.take() is batch  # no copy
        subscriber.offer([("btc", 2)], now=1.0)
        assert list(await subscriber.take()) == [("btc", 2)]
        assert closed == []

    asyncio.run(run())


def test_a_slow_client_gets_the_newest_value_per_key() -> None:
    async def run() -> None:
        subscriber, closed = _subscriber()
        for version in range(1, 51):
            subscriber.offer([("btc", version), ("eth", version)], now=float(version) / 10)
        subscriber.offer([("ada", 1)], now=6.0)
        assert subscriber.pending == 3
        assert list(await subscriber.take()) == [("btc", 50), ("eth", 50), ("ada", 1)]
        assert subscriber.pending == 0
        assert closed == []

    asyncio.run(run())


def test_too_many_values_waiting_closes_the_subscription() -> None:
    async def run() -> None:
        subscriber, closed = _subscriber(max_pending=3)
        subscriber.offer([("a", 1), ("b", 1)], now=0.0)
        subscriber.offer([("a", 2), ("b", 2), ("c", 1)], now=0.1)  # coalesced: 3 waiting
        assert closed == []
        subscriber.offer([("d", 1)], now=0.2)
        assert closed == [
            "subscription closed: its client had more than 3 values waiting (a slow consumer)"
        ]
        with pytest.raises(SlowConsumer):
            await subscriber.take()
        subscriber.offer([("e", 1)], now=0.3)  # failed: keeps nothing more
        assert subscriber.pending == 0

    asyncio.run(run())


def test_values_waiting_too_long_close_the_subscription() -> None:
    async def run() -> None:
        subscriber, closed = _subscriber(max_lag=5.0)
        subscriber.offer([("a", 1)], now=0.0)
        subscriber.offer([("a", 2)], now=4.0)
        assert closed == []
        subscriber.offer([("a", 3)], now=5.5)
        assert len(closed) == 1
        assert "took none of its waiting values for 5 s" in closed[0]

    asyncio.run(run())


def test_each_filter_is_matched_once_and_shared() -> None:
    async def run() -> None:
        calls: list[str] = []

        def matches(wanted: str, value: tuple[str, int]) -> bool:
            calls.append(wanted)
            return wanted == "*" or value[0] == wanted

        fanout: Fanout[tuple[str, int], str] = Fanout(matches)
        everyone = [_subscriber()[0] for _ in range(100)]
        for subscriber in everyone:
            fanout.add("*", subscriber)
        only_btc, _ = _subscriber()
        fanout.add("btc", only_btc)
        assert len(fanout) == 101
        handed = fanout.publish([("btc", 1), ("eth", 1)], now=0.0)
        assert handed == 100 * 2 + 1
        assert len(calls) == 2 * 2  # two filters, two values: not per subscriber
        assert list(await only_btc.take()) == [("btc", 1)]
        fanout.remove("btc", only_btc)
        fanout.remove("btc", only_btc)  # twice: no effect
        assert len(fanout) == 100

    asyncio.run(run())


def test_filters_filed_by_key_meet_only_the_values_with_that_key() -> None:
    async def run() -> None:
        checked: list[tuple[frozenset[str], str]] = []

        def matches(wanted: frozenset[str], value: tuple[str, int]) -> bool:
            checked.append((wanted, value[0]))
            return not wanted or value[0] in wanted

        fanout: Fanout[tuple[str, int], frozenset[str]] = Fanout(
            matches, lambda wanted: list(wanted) or None, lambda value: (value[0],)
        )
        one_each = {name: _subscriber()[0] for name in ("btc", "eth", "ada")}
        for name, subscriber in one_each.items():
            fanout.add(frozenset({name}), subscriber)
        two, everything = _subscriber()[0], _subscriber()[0]
        fanout.add(frozenset({"btc", "eth"}), two)
        fanout.add(frozenset(), everything)
        values = [("btc", 1), ("eth", 1), ("sol", 1)]
        assert fanout.publish(values, now=0.0) == 1 + 1 + 2 + 3
        assert list(await one_each["btc"].take()) == [("btc", 1)]
        assert list(await one_each["eth"].take()) == [("eth", 1)]
        assert one_each["ada"].pending == 0
        assert list(await two.take()) == [("btc", 1), ("eth", 1)]
        assert list(await everything.take()) == values
        # Filed filters met only values of their keys, once each; the open one met all.
        assert sorted(checked) == sorted(
            [
                (frozenset({"btc"}), "btc"),
                (frozenset({"eth"}), "eth"),
                (frozenset({"btc", "eth"}), "btc"),
                (frozenset({"btc", "eth"}), "eth"),
                *((frozenset(), name) for name in ("btc", "eth", "sol")),
            ]
        )
        for name, subscriber in one_each.items():
            fanout.remove(frozenset({name}), subscriber)
        assert len(fanout) == 2
        assert fanout.publish([("ada", 2)], now=1.0) == 1  # only the open filter

    asyncio.run(run())
