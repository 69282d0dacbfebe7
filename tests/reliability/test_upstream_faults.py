"""Upstream faults: whole ETL runs (both APIs from the fake upstream, both shipped CSVs)
while one API misbehaves.

Each fault must end in bounded time (asserted) with the faulty source ``failed`` (the run
``partial``) or its bad items rejected (counted, located and explained in ``rejects``), and
every other source loaded in full. Retries are kept short through the settings the
service reads (``HTTP_MAX_RETRIES``, ``HTTP_TIMEOUT_SECONDS``,
``HTTP_RETRY_AFTER_MAX_SECONDS``) and a faster backoff.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine

from kasparro.etl.http import RetryPolicy
from kasparro.etl.pipeline import run_etl
from tests.conftest import make_settings
from tests.etl.conftest import by_source, query
from tests.reliability.figures import report
from tests.support.upstream import (
    GECKO,
    MARKETS,
    PAPRIKA,
    TICKERS,
    FakeUpstream,
    Reply,
    encoded,
    enlarged,
    fake_upstream,
    garbage,
    gzip_bomb,
    html,
    json_reply,
    recorded,
    redirect,
    sample,
    server_error,
    slow,
    too_many,
    trickling,
    truncated,
)

RETRIES = 2
TIMEOUT = 1.0
RETRY_AFTER_MAX = 1.0
POLICY = RetryPolicy(
    max_retries=RETRIES, retry_after_max=RETRY_AFTER_MAX, backoff_base=0.05, backoff_max=0.2
)
FULL = {"coinpaprika": 2500, "coingecko": 120, "csv": 1496, "csv2": 1274}
"""Rows each source loads from the recorded payloads and the shipped CSVs."""


def _items(name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(sample(name))
    return items


def _edited(name: str, edits: dict[int, Callable[[dict[str, Any]], Any]]) -> Reply:
    """A recorded payload with item ``i`` replaced by ``edits[i](item)``."""
    items: list[Any] = _items(name)
    for index, edit in edits.items():
        items[index] = edit(dict(items[index]))
    return Reply(200, json.dumps(items).encode())


def _without(*keys: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda item: {k: v for k, v in item.items() if k not in keys}


def _with(**values: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda item: {**item, **values}


def _paprika_price(value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(item: dict[str, Any]) -> dict[str, Any]:
        usd = {**item["quotes"]["USD"], "price": value}
        return {**item, "quotes": {**item["quotes"], "USD": usd}}

    return edit


@dataclass(frozen=True)
class Fault:
    name: str
    source: str
    replies: tuple[Reply, ...]
    """Scripted replies, in order; the last one becomes the path's default."""
    status: str
    error: str = ""
    rejects: tuple[tuple[str, str], ...] = ()
    hits: int | None = None
    seconds: tuple[float, float] = (0.0, 15.0)
    """(at least, at most) seconds the faulty source may take."""
    inserted: int | None = None
    refused: bool = False
    """Point the source at a closed port instead of the fake upstream."""
    env: tuple[tuple[str, str], ...] = ()
    """Settings changed for this case."""


FAILS = RETRIES + 1
RATE = "HTTP 429: You've exceeded the Rate Limit."
PAGE_1 = "page 1"

FAULTS = [
    Fault(
        "429-retry-after-then-ok",
        "coinpaprika",
        (too_many("1"), recorded(PAPRIKA)),
        "success",
        hits=2,
        seconds=(1.0, 12.0),
        inserted=FULL["coinpaprika"],
    ),
    Fault(
        "429-retry-after-forever",
        "coinpaprika",
        (too_many("1"),),
        "failed",
        f"after {FAILS} attempts: {RATE}",
        hits=FAILS,
        seconds=(RETRIES * RETRY_AFTER_MAX, 12.0),
    ),
    Fault(
        "429-retry-after-3600-capped",
        "coingecko",
        (too_many("3600"),),
        "failed",
        f"after {FAILS} attempts: {RATE}",
        hits=FAILS,
        seconds=(RETRIES * RETRY_AFTER_MAX, 12.0),
    ),
    Fault(
        "429-retry-after-http-date",
        "coingecko",
        (too_many("Wed, 21 Oct 2015 07:28:00 GMT"), recorded(GECKO)),
        "success",
        hits=2,
        inserted=FULL["coingecko"],
    ),
    Fault(
        "429-without-retry-after",
        "coinpaprika",
        (too_many(),),
        "failed",
        f"after {FAILS} attempts: {RATE}",
        hits=FAILS,
        seconds=(0.0, 10.0),
    ),
    *(
        Fault(
            f"{code}-forever",
            "coinpaprika",
            (server_error(code),),
            "failed",
            f"after {FAILS} attempts: HTTP {code}: internal error",
            hits=FAILS,
            seconds=(0.0, 10.0),
        )
        for code in (500, 502, 503)
    ),
    Fault(
        "503-then-ok",
        "coingecko",
        (server_error(503), server_error(502), recorded(GECKO)),
        "success",
        hits=3,
        inserted=FULL["coingecko"],
    ),
    Fault(
        "connection-refused",
        "coinpaprika",
        (),
        "failed",
        f"after {FAILS} attempts: transport error (ConnectError",
        seconds=(0.0, 10.0),
        refused=True,
    ),
    Fault(
        "slow-past-the-timeout",
        "coinpaprika",
        (slow(3 * TIMEOUT, recorded(PAPRIKA)),),
        "failed",
        f"after {FAILS} attempts: timed out: no complete response within 1s "
        "(HTTP_TIMEOUT_SECONDS); it was waiting for the response headers",
        hits=FAILS,
        seconds=(FAILS * TIMEOUT, FAILS * TIMEOUT + 10.0),
    ),
    Fault(
        "slow-once-then-ok",
        "coingecko",
        (slow(3 * TIMEOUT, recorded(GECKO)), recorded(GECKO)),
        "success",
        hits=2,
        seconds=(TIMEOUT, TIMEOUT + 10.0),
        inserted=FULL["coingecko"],
    ),
    Fault(
        "trickled-body-past-the-timeout",
        "coingecko",
        (trickling(recorded(GECKO), 0.1),),  # 112 pieces, 0.1 s apart: each read in time
        "failed",
        f"after {FAILS} attempts: timed out: no complete response within 1s "
        "(HTTP_TIMEOUT_SECONDS); it was reading the body (",
        hits=FAILS,
        seconds=(FAILS * TIMEOUT, FAILS * (TIMEOUT + 0.5) + 10.0),
    ),
    Fault(
        "truncated-json",
        "coinpaprika",
        (truncated(PAPRIKA, 5000),),
        "failed",
        "no usable page",
        ((PAGE_1, "response is not valid JSON"),),
        hits=1,
    ),
    Fault(
        "html-instead-of-json",
        "coingecko",
        (html(),),
        "failed",
        "no usable page",
        ((PAGE_1, "it starts '<!DOCTYPE html>"),),
        hits=1,
    ),
    Fault(
        "html-503",
        "coingecko",
        (html(503),),
        "failed",
        f"after {FAILS} attempts: HTTP 503",
        hits=FAILS,
    ),
    Fault(
        "garbage-bytes",
        "coinpaprika",
        (garbage(),),
        "failed",
        "no usable page",
        ((PAGE_1, "response is not valid JSON"),),
    ),
    Fault(
        "error-object-with-200",
        "coinpaprika",
        (json_reply('{"error": "id not found"}'),),
        "failed",
        "no usable page",
        ((PAGE_1, "expected a JSON array of items, got dict"),),
    ),
    Fault(
        "missing-fields",
        "coinpaprika",
        (
            _edited(
                PAPRIKA,
                {
                    3: _without("id"),
                    5: _without("quotes"),
                    7: _without("last_updated"),
                    9: _paprika_price(None),
                    11: _without("symbol", "name"),
                },
            ),
        ),
        "success",
        rejects=(
            ("page 1 item 3", "id is missing"),
            ("page 1 item 5", "quotes.USD is missing"),
            ("page 1 item 7", "last_updated is missing"),
            ("page 1 item 9", "quotes.USD.price is missing"),
            ("page 1 item 11", "symbol is missing"),
        ),
        inserted=FULL["coinpaprika"] - 5,
    ),
    Fault(
        "wrong-types",
        "coingecko",
        (
            _edited(
                GECKO,
                {
                    0: _with(current_price="103000.5"),
                    1: _with(symbol=42),
                    2: _with(last_updated=1716000000),
                    3: _with(market_cap=[1, 2]),
                    4: _with(current_price=True),
                    5: lambda item: [item],
                    6: lambda item: None,
                    7: _with(last_updated="yesterday"),
                    8: _with(current_price=-1),
                    9: _with(id=""),
                },
            ),
        ),
        "success",
        rejects=(
            ("page 1 item 0", "current_price '103000.5' is not a number"),
            ("page 1 item 1", "symbol is not text"),
            ("page 1 item 2", "last_updated is missing"),
            ("page 1 item 3", "market_cap [1, 2] is not a number"),
            ("page 1 item 4", "current_price True is not a number"),
            ("page 1 item 5", "item is list, not an object"),
            ("page 1 item 6", "item is NoneType, not an object"),
            ("page 1 item 7", "timestamp 'yesterday' is not ISO-8601"),
            ("page 1 item 8", "current_price -1 must be a finite number >= 0"),
            ("page 1 item 9", "id is empty"),
        ),
        inserted=FULL["coingecko"] - 10,
    ),
    Fault(
        "payload-10x-larger",
        "coinpaprika",
        (enlarged(PAPRIKA, 10),),  # 19.7 MB: over the default HTTP_MAX_BODY_BYTES
        "success",
        hits=1,
        seconds=(0.0, 90.0),
        inserted=10 * FULL["coinpaprika"],
        env=(("HTTP_MAX_BODY_BYTES", str(32 * 1024 * 1024)),),
    ),
    Fault(
        "payload-10x-larger-than-the-limit",
        "coinpaprika",
        (enlarged(PAPRIKA, 10),),
        "failed",
        "the response announces 19,708,640 bytes (Content-Length), more than the limit of "
        "16,777,216 bytes (HTTP_MAX_BODY_BYTES)",
        hits=1,
        inserted=0,
    ),
    Fault(
        "gzip-encoded-payload",
        "coinpaprika",
        (encoded(recorded(PAPRIKA)),),
        "success",
        hits=1,
        inserted=FULL["coinpaprika"],
    ),
    Fault(
        "gzip-bomb-300mb",
        "coinpaprika",
        (gzip_bomb(300_000_000),),  # 291 KB inflating to 300 MB of a valid empty array
        "failed",
        "the response decodes (gzip) to more than the limit of 16,777,216 bytes "
        "(HTTP_MAX_BODY_BYTES)",
        hits=1,
        inserted=0,
    ),
    Fault(
        "content-encoding-not-asked-for",
        "coingecko",
        (Reply(200, b"\x1b\x03\x00[]", {"Content-Encoding": "br"}),),
        "failed",
        "the response uses Content-Encoding 'br', which is not decoded",
        hits=1,
        inserted=0,
    ),
    Fault(
        "redirect-loop",
        "coingecko",
        (redirect(f"{MARKETS}?loop=1"),),
        "failed",
        f"HTTP 302: redirect to {{base}}{MARKETS} not followed: more than 3 redirect(s) "
        "(HTTP_MAX_REDIRECTS)",
        hits=4,
        inserted=0,
    ),
    Fault(
        "empty-array",
        "coingecko",
        (json_reply("[]"),),
        "failed",
        "coingecko answered no items: the response was an empty JSON array",
        hits=1,
        inserted=0,
    ),
    Fault(
        "empty-array-paprika",
        "coinpaprika",
        (json_reply(" [ ] "),),
        "failed",
        "coinpaprika answered no items: the response was an empty JSON array",
        hits=1,
        inserted=0,
    ),
]


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[FakeUpstream]:
    with fake_upstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest) -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    yield seen
    if seen:
        slowest = max(seen, key=lambda o: o["run_seconds"])
        summary = (
            f"{len(seen)} faults, {sum(o['rejected'] for o in seen)} items rejected, "
            f"slowest run {slowest['run_seconds']:.1f} s ({slowest['fault']}), "
            f"{sum(o['run_seconds'] for o in seen):.1f} s in all"
        )
        report(request.config, "upstream-faults", summary, seen)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
@pytest.mark.slow
def test_upstream_fault(
    database_url: str,
    engine: Engine,
    upstream_server: FakeUpstream,
    fault: Fault,
    outcomes: list[dict[str, Any]],
) -> None:
    upstream = upstream_server
    upstream.reset()
    path = TICKERS if fault.source == "coinpaprika" else MARKETS
    if fault.replies:
        upstream.script(path, *fault.replies[:-1])
        upstream.serve(path, fault.replies[-1])
    base = "http://127.0.0.1:9" if fault.refused else upstream.base_url
    settings = make_settings(
        database_url,
        COINPAPRIKA_BASE_URL=f"{base if fault.source == 'coinpaprika' else upstream.base_url}/v1",
        COINGECKO_BASE_URL=f"{base if fault.source == 'coingecko' else upstream.base_url}/api/v3",
        HTTP_MAX_RETRIES=str(RETRIES),
        HTTP_TIMEOUT_SECONDS=str(TIMEOUT),
        HTTP_RETRY_AFTER_MAX_SECONDS=str(RETRY_AFTER_MAX),
        **dict(fault.env),
    )
    clock = time.monotonic()
    summary = run_etl(engine, settings.etl_config(), retry=POLICY)
    run_seconds = time.monotonic() - clock
    sources = by_source(summary)
    faulty = sources[fault.source]
    took = faulty.duration_ms / 1000
    outcomes.append(
        {
            "fault": fault.name,
            "source": fault.source,
            "status": faulty.status,
            "run_status": summary.status,
            "requests": len(upstream.hits(path)),
            "rejected": faulty.rejected,
            "source_seconds": round(took, 2),
            "run_seconds": round(run_seconds, 2),
            "error": faulty.error,
        }
    )

    assert faulty.status == fault.status, faulty.error
    assert summary.status == ("success" if fault.status == "success" else "partial")
    assert fault.error.format(base=upstream.base_url) in (faulty.error or ""), faulty.error
    if fault.status == "success":
        assert faulty.error is None
    low, high = fault.seconds
    assert low <= took <= high, (took, fault.seconds)
    if fault.hits is not None:
        assert len(upstream.hits(path)) == fault.hits
    if fault.inserted is not None:
        assert faulty.inserted == fault.inserted
        assert faulty.rejected == len(fault.rejects)
        assert faulty.rows_read == fault.inserted + faulty.rejected + faulty.unchanged

    stored = query(
        engine,
        "SELECT locator, reason, raw FROM rejects WHERE source = :s ORDER BY id",
        s=fault.source,
    )
    assert [r.locator for r in stored] == [locator for locator, _ in fault.rejects]
    for row, (_, reason) in zip(stored, fault.rejects, strict=True):
        assert reason in row.reason and row.raw, (row.reason, reason)
    [run] = query(
        engine,
        "SELECT status, error, rejected FROM etl_run_sources WHERE run_id = :r AND source = :s",
        r=summary.run_id,
        s=fault.source,
    )
    assert (run.status, run.error, run.rejected) == (faulty.status, faulty.error, len(stored))

    for name, rows in FULL.items():
        if name != fault.source:  # every other source loaded in full
            other = sources[name]
            assert (other.status, other.inserted, other.rejected) == ("success", rows, 0), name
    [total] = query(engine, "SELECT count(*) AS n FROM records")
    others = sum(rows for name, rows in FULL.items() if name != fault.source)
    assert total.n == others + faulty.inserted
