"""Response bodies are bounded (HTTP_MAX_BODY_BYTES) as received and as decoded, decoded
as they stream (gzip, deflate, both stacked), and refused clearly otherwise; a source whose
response is refused fails instead of reporting success with no rows."""

from __future__ import annotations

import re
import struct
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from kasparro.etl.errors import FetchError
from kasparro.etl.http import Fetcher, FetchLimits, RetryPolicy, upstream_client
from kasparro.etl.pipeline import run_etl
from tests.etl.conftest import FAST, by_source, make_config, query
from tests.support.upstream import (
    PAPRIKA,
    TICKERS,
    FakeUpstream,
    Reply,
    encoded,
    gzip_bomb,
    recorded,
    sample,
    trickling,
)

MIB = 1024 * 1024


def fetch(upstream: FakeUpstream, limit: int, codings: int = 2) -> bytes:
    limits = FetchLimits(deadline_seconds=20.0, max_body_bytes=limit, max_codings=codings)
    policy = RetryPolicy(max_retries=2, backoff_base=0.01)
    with upstream_client(limits) as client:
        fetcher = Fetcher(client, "coinpaprika", policy, limits=limits)
        return fetcher.get(f"{upstream.coinpaprika_url}/tickers").content


def refused(upstream: FakeUpstream, limit: int, codings: int = 2) -> str:
    """The error of a fetch that must fail at once (one request, not retried)."""
    with pytest.raises(FetchError) as caught:
        fetch(upstream, limit, codings)
    assert len(upstream.hits(TICKERS)) == 1
    return str(caught.value)


def test_a_gzip_bomb_is_cut_at_the_limit_without_inflating_it(upstream: FakeUpstream) -> None:
    upstream.serve(TICKERS, gzip_bomb(50 * MIB))  # 48 KB that inflate to 50 MiB
    tracemalloc.start()
    try:
        error = refused(upstream, 1 * MIB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert re.fullmatch(
        r"GET \S+/v1/tickers: the response decodes \(gzip\) to more than the limit of "
        r"1,048,576 bytes \(HTTP_MAX_BODY_BYTES\) after [\d,]+ bytes received",
        error,
    ), error
    assert peak < 8 * MIB, peak


def test_a_content_length_over_the_limit_is_refused_before_reading(
    upstream: FakeUpstream,
) -> None:
    upstream.serve(TICKERS, recorded(PAPRIKA))
    assert refused(upstream, MIB).endswith(
        "the response announces 1,824,544 bytes (Content-Length), more than the limit of "
        "1,048,576 bytes (HTTP_MAX_BODY_BYTES)"
    )


def test_a_chunked_body_is_cut_when_it_passes_the_limit(upstream: FakeUpstream) -> None:
    upstream.serve(TICKERS, trickling(recorded(PAPRIKA), 0.001))  # no Content-Length
    assert refused(upstream, 64 * 1024).endswith(
        "the response is larger than the limit of 65,536 bytes (HTTP_MAX_BODY_BYTES)"
    )


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_not(
    upstream: FakeUpstream, encoding: str
) -> None:
    body = b"[" + b" " * (4096 - 2) + b"]"
    reply = Reply(200, body) if encoding == "identity" else encoded(Reply(200, body))
    upstream.serve(TICKERS, reply)
    assert fetch(upstream, 4096) == body
    upstream.reset()
    upstream.serve(TICKERS, reply)
    assert "more than the limit of 4,095 bytes" in refused(upstream, 4095)


@pytest.mark.parametrize(
    "codings", [("gzip",), ("deflate",), ("raw-deflate",), ("gzip", "gzip"), ("deflate", "gzip")]
)
def test_encoded_bodies_are_decoded_to_the_recorded_payload(
    upstream: FakeUpstream, codings: tuple[str, ...]
) -> None:
    reply = recorded(PAPRIKA)
    for coding in codings:
        reply = encoded(reply, coding)
    upstream.serve(TICKERS, reply)
    assert len(reply.body) < 400_000
    assert fetch(upstream, 2 * MIB) == sample(PAPRIKA)


def test_an_encoding_that_is_not_decoded_is_refused(upstream: FakeUpstream) -> None:
    upstream.serve(TICKERS, Reply(200, b"\x8b\x02\x80[]\x03", {"Content-Encoding": "br"}))
    assert refused(upstream, MIB).endswith(
        "the response uses Content-Encoding 'br', which is not decoded"
    )


def test_a_corrupt_gzip_body_is_refused(upstream: FakeUpstream) -> None:
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
    upstream.serve(TICKERS, Reply(200, header + b"\xff" * 20, {"Content-Encoding": "gzip"}))
    assert "the response is not valid gzip data (Error -3 while decompressing data" in refused(
        upstream, MIB
    )


def test_a_truncated_gzip_body_is_refused(upstream: FakeUpstream) -> None:
    whole = encoded(recorded(PAPRIKA)).body
    upstream.serve(TICKERS, Reply(200, whole[:5000], {"Content-Encoding": "gzip"}))
    assert refused(upstream, MIB).endswith(
        "the response's gzip data is cut short (5,000 bytes received)"
    )


def test_a_source_fed_a_gzip_bomb_fails_instead_of_succeeding_with_no_rows(
    engine: Engine, upstream: FakeUpstream
) -> None:
    upstream.serve(TICKERS, gzip_bomb(64 * MIB))  # valid JSON: [ + 64 MiB of spaces + ]
    config = make_config(upstream, sources=("coinpaprika", "csv"))
    assert config.http_max_body_bytes == 16 * MIB
    summary = run_etl(engine, config, retry=FAST)
    paprika = by_source(summary)["coinpaprika"]
    assert (summary.status, paprika.status, paprika.rows_read) == ("partial", "failed", 0)
    assert paprika.error is not None
    assert "decodes (gzip) to more than the limit of 16,777,216 bytes" in paprika.error
    assert len(upstream.hits(TICKERS)) == 1
    assert query(engine, "SELECT count(*) AS n FROM raw_payloads")[0].n == 0
    assert by_source(summary)["csv"].inserted == 1496


def stored_layers(body: bytes, layers: int) -> Reply:
    """``body`` gzip-wrapped ``layers`` times: every inner layer stored (deflate level 0, so
    each decodes to about its own size), the outermost compressed hard, so a small body
    makes a piece of about the body's size at every layer."""
    for level in [0] * (layers - 1) + [9]:
        packer = zlib.compressobj(level, zlib.DEFLATED, 31)
        body = packer.compress(body) + packer.flush()
    return Reply(200, body, {"Content-Encoding": ", ".join(["gzip"] * layers)})


def empty_blocks(body: bytes, blocks: int) -> bytes:
    """A gzip stream of ``body`` preceded by ``blocks`` empty stored deflate blocks (5 bytes
    each, decoding to nothing): large, yet it decodes to ``body`` alone."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = b"\x00\x00\x00\xff\xff" * blocks + packer.compress(body) + packer.flush()
    trailer = struct.pack("<II", zlib.crc32(body), len(body))
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + deflated + trailer


def peak_of(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_more_codings_than_the_setting_allows_are_refused(upstream: FakeUpstream) -> None:
    reply = stored_layers(b"[]", 3)
    upstream.serve(TICKERS, reply)
    assert refused(upstream, MIB).endswith(
        "the response lists 3 content codings (gzip, gzip, gzip), more than the 2 decoded "
        "(HTTP_MAX_CONTENT_CODINGS)"
    )
    upstream.reset()
    upstream.serve(TICKERS, reply)
    assert fetch(upstream, MIB, codings=3) == b"[]"


def test_a_header_of_many_codings_is_refused_and_quoted_short(upstream: FakeUpstream) -> None:
    upstream.serve(TICKERS, Reply(200, b"[]", {"Content-Encoding": ", ".join(["gzip"] * 2000)}))
    error = refused(upstream, MIB)
    assert "the response lists 2,000 content codings (gzip, gzip, " in error
    assert len(error) < 300, error


def test_stacked_layers_hold_about_the_limit_whatever_their_number(
    upstream: FakeUpstream,
) -> None:
    """Each of 16 layers decodes to about 1 MiB from a 1.5 KB body. Read in pieces of 1 MiB
    per layer, every layer held about a piece at once (before: RSS +12 MiB for 16 layers,
    +500 MiB for 500); pieces are now the limit shared out among the layers."""
    payload = b"[" + b" " * (MIB - 2) + b"]"
    reply = stored_layers(payload, 16)
    assert len(reply.body) < 8192
    upstream.serve(TICKERS, reply)
    content: list[bytes] = []
    peak = peak_of(lambda: content.append(fetch(upstream, 2 * MIB, codings=16)))
    assert content == [payload]
    assert peak < 6 * MIB, peak


def test_an_inner_layer_is_bounded_even_when_the_outer_and_the_result_are_small(
    upstream: FakeUpstream,
) -> None:
    inner = empty_blocks(b"[]", 400_000)  # 2 MB of gzip data that decodes to 2 bytes
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    outer = packer.compress(inner) + packer.flush()
    assert len(outer) < 20_000
    upstream.serve(TICKERS, Reply(200, outer, {"Content-Encoding": "gzip, gzip"}))
    assert re.search(
        r"the response decodes \(gzip, gzip\) to more than the limit of 1,048,576 bytes "
        r"\(HTTP_MAX_BODY_BYTES\) in its layer 1 of 2 \(gzip\) after [\d,]+ bytes received$",
        refused(upstream, MIB),
    )
    upstream.reset()
    upstream.serve(TICKERS, Reply(200, outer, {"Content-Encoding": "gzip, gzip"}))
    assert fetch(upstream, 4 * MIB) == b"[]"


@pytest.mark.parametrize("coding", ["br", "gzip, zstd", "compress"])
def test_a_stack_with_an_unknown_coding_is_refused(upstream: FakeUpstream, coding: str) -> None:
    upstream.serve(TICKERS, Reply(200, b"[]", {"Content-Encoding": coding}))
    unknown = coding.split(", ")[-1]
    assert refused(upstream, MIB).endswith(
        f"the response uses Content-Encoding {unknown!r}, which is not decoded"
    )
