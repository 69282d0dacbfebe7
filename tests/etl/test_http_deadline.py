"""The total deadline of an attempt, and a stop request, against upstreams that stall in
every phase: connecting, the TLS handshake, the response headers, the body, a retry wait.

The stalls are real sockets (``tests/support/hostile_upstream.py``). The time bounds asserted here
are loose (the fetch ended by the deadline or the stop, not by the upstream); the tight ones
(a stop within a second in every phase) are asserted by ``bench/bench_upstream_cuts.py``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from kasparro.etl.errors import FetchError, StoppedError
from kasparro.etl.http import Fetcher, FetchLimits, RetryPolicy, upstream_client
from tests.support.hostile_upstream import (
    dripping,
    header_block,
    http_response,
    unconnectable,
)
from tests.support.upstream import TICKERS, FakeUpstream, too_many

ONCE = RetryPolicy(max_retries=0)
SMALL = http_response(b"[]")
"""A complete 70-byte response: dripped a byte every 0.1 s it takes 7 s."""


def fetcher(
    deadline: float, stop: threading.Event | None = None, policy: RetryPolicy = ONCE
) -> Fetcher:
    limits = FetchLimits(deadline_seconds=deadline)
    return Fetcher(upstream_client(limits), "coinpaprika", policy, limits=limits, stop=stop)


def timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except (FetchError, StoppedError) as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


@pytest.mark.slow
def test_headers_dripped_a_byte_at_a_time_end_at_the_deadline() -> None:
    with dripping(SMALL, every=0.1) as server:
        error, took = timed(lambda: fetcher(1.0).get(f"{server.base_url}/v1/tickers"))
        [connection] = server.wait_closed(timeout=2.0)

    assert isinstance(error, FetchError), error
    assert str(error) == (
        f"GET {server.base_url}/v1/tickers: timed out: no complete response within 1s "
        "(HTTP_TIMEOUT_SECONDS); it was waiting for the response headers"
    )
    assert 1.0 <= took < 2.5
    # The socket was shut when the deadline passed, not left dripping in the background.
    assert connection.closed_by_client is not None
    assert connection.closed_by_client - connection.accepted < 2.5
    assert 5 <= connection.sent < 30


@pytest.mark.slow
def test_a_body_dripped_a_byte_every_two_seconds_ends_at_the_deadline() -> None:
    # Each byte comes within a read timeout of 3 s; the whole body never would.
    response = http_response(b"[" + b" " * 50 + b"]")
    with dripping(response, every=2.0, head=header_block(response)) as server:
        error, took = timed(lambda: fetcher(3.0).get(f"{server.base_url}/v1/tickers"))
        [connection] = server.wait_closed(timeout=2.0)

    assert isinstance(error, FetchError), error
    assert str(error).endswith(
        "timed out: no complete response within 3s (HTTP_TIMEOUT_SECONDS); "
        "it was reading the body (1 byte received)"
    )
    assert 3.0 <= took < 3.9  # the next byte was due at 4 s
    assert connection.closed_by_client is not None


@pytest.mark.slow
def test_each_attempt_has_its_own_deadline_and_is_retried() -> None:
    policy = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.02)
    with dripping(SMALL, every=0.1) as server:
        error, took = timed(lambda: fetcher(0.5, policy=policy).get(f"{server.base_url}/v1/t"))
        connections = server.wait_closed(timeout=2.0)

    assert isinstance(error, FetchError)
    assert "after 3 attempts: timed out: no complete response within 0.5s" in str(error)
    assert 1.5 <= took < 4.0
    assert len(connections) == 3
    assert all(c.closed_by_client is not None for c in connections)


@pytest.fixture
def stalls(upstream: FakeUpstream) -> Iterator[dict[str, str]]:
    """A URL per phase in which a fetch stalls (for 30 s or more)."""
    upstream.serve(TICKERS, too_many("30"))
    response = http_response(b"[" + b" " * 100 + b"]")
    with (
        unconnectable() as black_hole,
        dripping(b"", every=math.inf) as silent,
        dripping(SMALL, every=1.0) as headers,
        dripping(response, every=1.0, head=header_block(response)) as body,
    ):
        yield {
            "connecting": f"{black_hole}/v1/tickers",
            "in the TLS handshake": f"{silent.base_url.replace('http:', 'https:')}/v1/tickers",
            "waiting for the response headers": f"{headers.base_url}/v1/tickers",
            "reading the body": f"{body.base_url}/v1/tickers",
            "waiting to retry": f"{upstream.coinpaprika_url}/tickers",
        }


@pytest.mark.parametrize(
    "phase",
    [
        "connecting",
        "in the TLS handshake",
        "waiting for the response headers",
        "reading the body",
        "waiting to retry",
    ],
)
@pytest.mark.slow
def test_a_stop_request_cuts_a_fetch_short_in_every_phase(
    stalls: dict[str, str], phase: str
) -> None:
    stop = threading.Event()
    policy = RetryPolicy(max_retries=1, retry_after_max=30.0)
    outcome: list[tuple[BaseException | None, float]] = []

    def fetch() -> None:
        outcome.append(timed(lambda: fetcher(30.0, stop, policy).get(stalls[phase])))

    worker = threading.Thread(target=fetch)
    worker.start()
    time.sleep(1.5)  # well into the phase
    assert worker.is_alive(), outcome
    asked = time.monotonic()
    stop.set()
    worker.join(timeout=10)
    cut = time.monotonic() - asked

    [(error, took)] = outcome
    assert isinstance(error, StoppedError), error
    assert error.source == "coinpaprika"
    assert str(error).startswith("stopped: the run was asked to stop")
    assert cut < 3.0, cut  # the 1 s bound: bench/bench_upstream_cuts.py
    assert took < 5.0


@pytest.mark.parametrize(
    ("phase", "said"),
    [
        ("connecting", "connecting"),
        ("in the TLS handshake", "in the TLS handshake"),
        ("waiting for the response headers", "waiting for the response headers"),
        ("reading the body", "reading the body (1 byte received)"),
    ],
)
@pytest.mark.slow
def test_the_deadline_error_names_the_phase_the_upstream_stalled_in(
    stalls: dict[str, str], phase: str, said: str
) -> None:
    error, took = timed(lambda: fetcher(1.5).get(stalls[phase]))
    assert isinstance(error, FetchError), error
    assert str(error).endswith(
        f"timed out: no complete response within 1.5s (HTTP_TIMEOUT_SECONDS); it was {said}"
    )
    assert 1.5 <= took < 3.0


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fetch-")]


@pytest.mark.slow
def test_many_cut_attempts_leave_no_thread_or_descriptor_behind() -> None:
    with dripping(SMALL, every=0.05) as server:
        fetch = fetcher(0.2)
        baseline = _open_descriptors()
        for _ in range(30):
            error, _ = timed(lambda: fetch.get(f"{server.base_url}/v1/tickers"))
            assert isinstance(error, FetchError) and "it was waiting for" in str(error)
        connections = server.wait_closed(timeout=2.0)
        assert len(connections) == 30
        assert all(c.closed_by_client is not None for c in connections)
        time.sleep(0.2)
        assert _fetch_threads() == []
        assert _open_descriptors() <= baseline
