"""Retries against a real local server: Retry-After, backoff, 5xx forever, 403, timeouts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from kasparro.etl.errors import FetchError
from kasparro.etl.http import (
    Fetcher,
    FetchLimits,
    RetryPolicy,
    retry_after_seconds,
    upstream_client,
)
from tests.support.upstream import (
    MARKETS,
    TICKERS,
    FakeUpstream,
    forbidden,
    server_error,
    slow,
    too_many,
)

FAST = RetryPolicy(max_retries=3, retry_after_max=5.0, backoff_base=0.01, backoff_max=0.05)


MakeFetcher = Callable[..., Fetcher]


@pytest.fixture
def fetcher() -> Iterator[MakeFetcher]:
    """Build fetchers for source coinpaprika: (policy, deadline, **headers); closes clients."""
    clients: list[httpx.Client] = []

    def make(policy: RetryPolicy = FAST, timeout: float = 5.0, **headers: str) -> Fetcher:
        limits = FetchLimits(deadline_seconds=timeout)
        clients.append(upstream_client(limits))
        return Fetcher(clients[-1], "coinpaprika", policy, headers, limits=limits)

    yield make
    for client in clients:
        client.close()


@pytest.mark.slow
def test_retry_after_in_seconds_is_honoured(upstream: FakeUpstream, fetcher: MakeFetcher) -> None:
    upstream.script(TICKERS, too_many("1"))
    response = fetcher().get(f"{upstream.coinpaprika_url}/tickers")
    assert response.status_code == 200
    first, second = upstream.hits(TICKERS)
    assert 0.95 <= second.at - first.at < 3.0


def test_retry_after_is_capped(upstream: FakeUpstream, fetcher: MakeFetcher) -> None:
    policy = RetryPolicy(max_retries=1, retry_after_max=0.2, backoff_base=0.01)
    upstream.script(TICKERS, too_many("3600"))
    fetcher(policy).get(f"{upstream.coinpaprika_url}/tickers")
    first, second = upstream.hits(TICKERS)
    assert 0.18 <= second.at - first.at < 1.0


def test_429_without_retry_after_backs_off_and_succeeds(
    upstream: FakeUpstream, fetcher: MakeFetcher
) -> None:
    upstream.script(TICKERS, too_many(), too_many())
    assert fetcher().get(f"{upstream.coinpaprika_url}/tickers").status_code == 200
    assert len(upstream.hits(TICKERS)) == 3


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Wed, 25 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 25 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0, random=lambda: 1.0)
    assert [policy.backoff(n) for n in range(4)] == [1.0, 2.0, 4.0, 5.0]
    low = RetryPolicy(backoff_base=1.0, random=lambda: 0.0)
    assert low.backoff(1) == 1.0


def test_5xx_forever_gives_up_after_the_retries(
    upstream: FakeUpstream, fetcher: MakeFetcher
) -> None:
    upstream.serve(TICKERS, server_error(503))
    with pytest.raises(FetchError) as caught:
        fetcher().get(f"{upstream.coinpaprika_url}/tickers")
    assert len(upstream.hits(TICKERS)) == 4
    assert caught.value.status_code == 503
    assert caught.value.source == "coinpaprika"
    assert str(caught.value) == (
        f"GET {upstream.coinpaprika_url}/tickers after 4 attempts: HTTP 503: internal error"
    )


def test_403_is_not_retried_and_reports_the_upstream_message(
    upstream: FakeUpstream, fetcher: MakeFetcher
) -> None:
    upstream.serve(MARKETS, forbidden())
    with pytest.raises(FetchError) as caught:
        fetcher().get(f"{upstream.coingecko_url}/coins/markets")
    assert len(upstream.hits(MARKETS)) == 1
    assert caught.value.status_code == 403
    assert "HTTP 403: This endpoint is temporarily unavailable" in str(caught.value)


def test_a_slow_response_times_out_and_is_retried(
    upstream: FakeUpstream, fetcher: MakeFetcher
) -> None:
    upstream.script(TICKERS, slow(1.0))
    response = fetcher(timeout=0.3).get(f"{upstream.coinpaprika_url}/tickers")
    assert response.status_code == 200
    assert len(upstream.hits(TICKERS)) == 2


def test_connect_errors_are_retried_then_reported(fetcher: MakeFetcher) -> None:
    policy = RetryPolicy(max_retries=2, backoff_base=0.01)
    with pytest.raises(FetchError, match=r"after 3 attempts: transport error \(ConnectError"):
        fetcher(policy).get("http://127.0.0.1:9/v1/tickers")


def test_api_keys_travel_as_headers_and_never_reach_logs_or_errors(
    upstream: FakeUpstream, caplog: pytest.LogCaptureFixture, fetcher: MakeFetcher
) -> None:
    upstream.serve(TICKERS, server_error())
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FetchError) as caught:
        fetcher(Authorization="secret-paprika-key").get(f"{upstream.coinpaprika_url}/tickers")
    assert upstream.hits(TICKERS)[0].headers["authorization"] == "secret-paprika-key"
    assert "secret-paprika-key" not in str(caught.value)
    assert "secret-paprika-key" not in caplog.text
    assert "retrying after" in caplog.text
