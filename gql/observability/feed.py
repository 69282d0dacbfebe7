"""The change feed's figures on ``/metrics`` (``gql.feed``), read when scraped."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kasparro.gql.feed import ChangeFeed


class FeedCollector(Collector):
    """Subscriptions held, store readings and values handed out by one process's feed."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed

    def collect(self) -> Iterator[Metric]:
        held = GaugeMetricFamily(
            "kasparro_subscriptions",
            "GraphQL subscriptions this process holds, by field.",
            labels=["field"],
        )
        held.add_metric(["priceChanges"], len(self.feed.prices))
        held.add_metric(["etlRunEvents"], len(self.feed.runs))
        yield held
        yield CounterMetricFamily(
            "kasparro_change_feed_readings",
            "Times the change feed read the store (once per change or poll, whatever the "
            "number of subscribers).",
            value=self.feed.readings,
        )
        yield CounterMetricFamily(
            "kasparro_subscription_values",
            "Values handed to subscriptions (before any coalescing for slow clients).",
            value=self.feed.delivered,
        )
