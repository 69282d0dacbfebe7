"""Redirects: followed up to HTTP_MAX_REDIRECTS, and a source's API key header goes only to
the origin (scheme, host, port) of the URL it asked for. Two fake upstreams on 127.0.0.1
are two origins (other ports); ``localhost`` on the first one's port is a third (another
host name for the same server). Each test asserts the headers that arrived at each."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from kasparro.etl.errors import FetchError
from kasparro.etl.http import Fetcher, FetchLimits, RetryPolicy, upstream_client
from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config
from tests.support.upstream import (
    GECKO,
    MARKETS,
    PAPRIKA,
    TICKERS,
    FakeUpstream,
    fake_upstream,
    recorded,
    redirect,
)

KEY = "secret-key-0123"


@pytest.fixture(scope="module")
def other_server() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


@pytest.fixture
def other(other_server: FakeUpstream) -> FakeUpstream:
    """A second fake upstream: another origin (another port)."""
    other_server.reset()
    return other_server


def fetch(url: str, header: str = "Authorization", redirects: int = 3) -> int:
    limits = FetchLimits(deadline_seconds=5.0, max_redirects=redirects)
    with upstream_client(limits) as client:
        fetcher = Fetcher(
            client, "coinpaprika", RetryPolicy(max_retries=0), {header: KEY}, limits=limits
        )
        return fetcher.get(url).status_code


def keys(server: FakeUpstream, path: str, header: str = "authorization") -> list[str | None]:
    """The key header of each request ``server`` saw for ``path``, in order."""
    return [seen.headers.get(header) for seen in server.hits(path)]


@pytest.mark.parametrize("header", ["Authorization", "x-cg-demo-api-key"])
def test_a_redirect_to_another_port_gets_no_key(
    upstream: FakeUpstream, other: FakeUpstream, header: str
) -> None:
    upstream.serve(TICKERS, redirect(f"{other.base_url}{TICKERS}"))
    assert fetch(f"{upstream.coinpaprika_url}/tickers", header) == 200
    assert keys(upstream, TICKERS, header.lower()) == [KEY]
    assert keys(other, TICKERS, header.lower()) == [None]


def test_a_redirect_to_another_host_name_of_the_same_server_gets_no_key(
    upstream: FakeUpstream,
) -> None:
    port = upstream.base_url.rsplit(":", 1)[1]
    upstream.serve(TICKERS, redirect(f"http://localhost:{port}/v1/moved"))
    upstream.serve("/v1/moved", recorded(PAPRIKA))
    assert fetch(f"{upstream.coinpaprika_url}/tickers", "x-cg-demo-api-key") == 200
    assert keys(upstream, TICKERS, "x-cg-demo-api-key") == [KEY]
    [moved] = upstream.hits("/v1/moved")
    assert moved.headers["host"] == f"localhost:{port}"
    assert "x-cg-demo-api-key" not in moved.headers


def test_a_redirect_within_the_origin_keeps_the_key(upstream: FakeUpstream) -> None:
    upstream.serve(TICKERS, redirect("/v1/moved", 301))
    upstream.serve("/v1/moved", redirect(f"{upstream.base_url}/v1/moved-again", 307))
    upstream.serve("/v1/moved-again", recorded(PAPRIKA))
    assert fetch(f"{upstream.coinpaprika_url}/tickers") == 200
    assert keys(upstream, TICKERS) + keys(upstream, "/v1/moved") == [KEY, KEY]
    assert keys(upstream, "/v1/moved-again") == [KEY]


def test_the_key_goes_back_only_to_its_own_origin(
    upstream: FakeUpstream, other: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kasparro.etl.http")
    upstream.serve(TICKERS, redirect(f"{other.base_url}/v1/bounce?token=abc"))
    other.serve("/v1/bounce", redirect(f"{upstream.base_url}/v1/home"))
    upstream.serve("/v1/home", recorded(PAPRIKA))
    assert fetch(f"{upstream.coinpaprika_url}/tickers") == 200
    assert keys(upstream, TICKERS) == [KEY]
    assert keys(other, "/v1/bounce") == [None]
    assert keys(upstream, "/v1/home") == [KEY]
    assert caplog.messages == [
        f"following a redirect to {other.base_url}/v1/bounce without the source's headers "
        "(another origin)",
        f"following a redirect to {upstream.base_url}/v1/home",
    ]


def test_redirects_past_the_limit_fail_without_retrying(upstream: FakeUpstream) -> None:
    upstream.serve(TICKERS, redirect(f"{upstream.base_url}{TICKERS}?again=1"))
    with pytest.raises(FetchError) as caught:
        fetch(f"{upstream.coinpaprika_url}/tickers", redirects=3)
    assert str(caught.value) == (
        f"GET {upstream.coinpaprika_url}/tickers: HTTP 302: redirect to "
        f"{upstream.base_url}{TICKERS} not followed: more than 3 redirect(s) "
        "(HTTP_MAX_REDIRECTS)"
    )
    assert caught.value.status_code == 302
    assert len(upstream.hits(TICKERS)) == 4  # the request and 3 redirects followed


def test_no_redirect_is_followed_when_the_limit_is_zero(
    upstream: FakeUpstream, other: FakeUpstream
) -> None:
    upstream.serve(TICKERS, redirect(f"{other.base_url}{TICKERS}", 308))
    with pytest.raises(FetchError, match=r"HTTP 308: redirect to http://127\.0\.0\.1:\d+/v1/ti"):
        fetch(f"{upstream.coinpaprika_url}/tickers", redirects=0)
    assert other.hits(TICKERS) == []


def test_a_redirect_to_another_scheme_is_refused(upstream: FakeUpstream) -> None:
    upstream.serve(TICKERS, redirect("file:///etc/passwd"))
    with pytest.raises(FetchError, match="HTTP 302: a redirect to a 'file' URL"):
        fetch(f"{upstream.coinpaprika_url}/tickers")
    assert len(upstream.hits(TICKERS)) == 1


def test_a_coingecko_run_redirected_to_another_host_keeps_its_key_home(
    engine: Engine, upstream: FakeUpstream, other: FakeUpstream
) -> None:
    upstream.serve(MARKETS, redirect(f"{other.base_url}{MARKETS}?moved=1"))
    other.serve(MARKETS, recorded(GECKO))
    config = make_config(upstream, sources=("coingecko",), coingecko_api_key=KEY)
    summary = run_etl(engine, config, retry=FAST)
    gecko = by_source(summary)["coingecko"]
    assert (gecko.status, gecko.inserted) == ("success", 120)
    assert keys(upstream, MARKETS, "x-cg-demo-api-key") == [KEY]
    assert keys(other, MARKETS, "x-cg-demo-api-key") == [None]
    [moved] = other.hits(MARKETS)
    assert moved.query == "moved=1"
