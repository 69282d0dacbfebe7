"""The bounds of GraphQL subscriptions, declared as settings (``gql.feed``, ``gql.live``)."""

from __future__ import annotations

from dataclasses import dataclass

from kasparro.etl.declared import Integer, Seconds, Text, setting


@dataclass(frozen=True, slots=True)
class SubscriptionConfig:
    """GraphQL subscriptions over WebSocket (`graphql-transport-ws` at `/graphql`)."""

    token: str | None = setting(
        "SUBSCRIPTION_TOKEN",
        None,
        Text(),
        'when set, a WebSocket client must send `{"token": "<it>"}` as its '
        "`connection_init` payload, else the socket is closed with 4403",
        secret=True,
    )
    max_per_connection: int = setting(
        "SUBSCRIPTION_MAX_PER_CONNECTION",
        20,
        Integer(1, 1000),
        "operations one WebSocket connection may have running; past it a `subscribe` is "
        "answered with an `error` message",
    )
    max_per_process: int = setting(
        "SUBSCRIPTION_MAX_PER_PROCESS",
        5000,
        Integer(1),
        "subscriptions one serving process holds over all its connections; past it a "
        "`subscribe` is answered with an `error` message (`TOO_MANY_SUBSCRIPTIONS`)",
    )
    init_timeout: float = setting(
        "SUBSCRIPTION_INIT_TIMEOUT_SECONDS",
        10.0,
        Seconds(),
        "a WebSocket client must send `connection_init` within this of connecting, else the "
        "socket is closed with 4408",
    )
    ping_interval: float = setting(
        "SUBSCRIPTION_PING_SECONDS",
        20.0,
        Seconds(),
        "`kasparro serve` pings each WebSocket this often and closes it when the pong is this late",
    )
    max_pending: int = setting(
        "SUBSCRIPTION_MAX_PENDING",
        10_000,
        Integer(1),
        "values a subscription may have waiting for a slow client (one per asset and "
        "source, or per run: a newer value replaces a waiting one); more closes the socket "
        "with 4429",
    )
    max_lag: float = setting(
        "SUBSCRIPTION_MAX_LAG_SECONDS",
        30.0,
        Seconds(),
        "a subscription whose client has taken none of its waiting values for this long "
        "closes the socket with 4429",
    )
    poll_interval: float = setting(
        "SUBSCRIPTION_POLL_SECONDS",
        0.25,
        Seconds(),
        "on SQLite (no notifications), how often each serving process reads the change "
        "counter and the running ETL runs",
    )
    progress_interval: float = setting(
        "SUBSCRIPTION_PROGRESS_SECONDS",
        1.0,
        Seconds(),
        "`etlRunEvents` sends a run's progress at most once per this (a run or a source "
        "starting or ending is sent at once)",
    )
    reconnect_max: float = setting(
        "SUBSCRIPTION_RECONNECT_MAX_SECONDS",
        30.0,
        Seconds(),
        "on PostgreSQL, the longest wait between attempts to reconnect the process's "
        "`LISTEN` connection (from 0.1 s, doubling); each attempt connects within this",
    )
