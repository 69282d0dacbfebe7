"""A fake CoinPaprika / CoinGecko for tests: a small Starlette app on a real local server.

By default it serves recorded payloads from ``../shared/datasets/upstream-samples`` (beside
the repository): ``/v1/tickers`` the 2023-08-11 CoinPaprika tickers and
``/api/v3/coins/markets`` the 2025-05-20 CoinGecko markets (page 1; later pages ``[]``).
Each path can be given a default reply (``serve``) and a queue of scripted replies consumed
one per request before the default (``script``), built with the helpers below: recorded
files, 429 with or without ``Retry-After``, 5xx, garbage, truncated JSON, HTML, the recorded
403 body, slow replies, replies trickled piece by piece, payloads enlarged N times,
redirects, gzip/deflate-encoded bodies and a gzip bomb. Every request is logged in
``requests`` with its arrival time and headers. (Stalls below HTTP, such as headers sent one
byte at a time, are in ``tests/support/hostile_upstream.py``.)

Use ``with fake_upstream() as upstream:`` and point the ETL at ``upstream.coinpaprika_url``
and ``upstream.coingecko_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.support.servers import serve_in_thread

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "upstream-samples"
PAPRIKA = "coinpaprika_tickers_usd_2023-08-11.json"
PAPRIKA_2019 = "coinpaprika_tickers_usd_2019-10-04.json"
GECKO = "coingecko_markets_usd_top120_2025-05-20.json"
GECKO_2021 = "coingecko_markets_usd_top100_2021-06-24.json"
GECKO_2026 = "coingecko_markets_usd_top100_2026-04-30.json"
GECKO_403 = "coingecko_error_403_2023-03-30.json"
TICKERS = "/v1/tickers"
MARKETS = "/api/v3/coins/markets"


def sample(name: str) -> bytes:
    """The bytes of a recorded payload; fail clearly when the shared folder is missing."""
    path = SAMPLES / name
    if not path.is_file():
        raise RuntimeError(
            f"recorded upstream payload {path} is missing: the tests expect the shared datasets "
            "folder beside the repository (<clone>/../shared/datasets/upstream-samples)"
        )
    return path.read_bytes()


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"[]"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"
    trickle: float = 0.0
    """Seconds between 1 KiB pieces of the body (0: send it at once)."""


def recorded(name: str, status: int = 200) -> Reply:
    return Reply(status, sample(name))


def json_reply(body: str, status: int = 200) -> Reply:
    return Reply(status, body.encode())


def too_many(retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit."}}'
    return Reply(429, body, headers)


def server_error(status: int = 500) -> Reply:
    return Reply(status, b'{"error":"internal error"}')


def garbage() -> Reply:
    return Reply(200, b"\x00\xffnot json at all {{{")


def truncated(name: str, keep: int = 5000) -> Reply:
    return Reply(200, sample(name)[:keep])


def html(status: int = 200) -> Reply:
    body = b"<!DOCTYPE html><html><body><h1>Just a moment...</h1></body></html>"
    return Reply(status, body, content_type="text/html")


def forbidden() -> Reply:
    return Reply(403, sample(GECKO_403))


def slow(seconds: float, reply: Reply | None = None) -> Reply:
    base = reply or Reply()
    return Reply(base.status, base.body, base.headers, seconds, base.content_type)


def trickling(reply: Reply, every: float) -> Reply:
    """``reply`` sent 1 KiB at a time, ``every`` seconds apart (each read is quick)."""
    return Reply(reply.status, reply.body, reply.headers, reply.delay, reply.content_type, every)


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, b"", {"Location": location})


def encoded(reply: Reply, coding: str = "gzip") -> Reply:
    """``reply`` with its body compressed: ``gzip``, ``deflate`` (zlib) or ``raw-deflate``
    (sent as ``deflate`` without the zlib header); an encoded reply is encoded once more."""
    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[coding]
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = packer.compress(reply.body) + packer.flush()
    name = "deflate" if coding == "raw-deflate" else coding
    before = reply.headers.get("Content-Encoding")
    headers = {**reply.headers, "Content-Encoding": f"{before}, {name}" if before else name}
    return Reply(reply.status, body, headers, reply.delay, reply.content_type, reply.trickle)


def gzip_bomb(decoded_bytes: int) -> Reply:
    """A gzip body that inflates to ``decoded_bytes``: an empty JSON array padded with
    spaces (valid JSON: read whole, it is a page of no items). 300 MB packs into 291 KB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b"[")]
    block = b" " * (1 << 20)
    left = decoded_bytes - 2
    while left > 0:
        parts.append(packer.compress(block[: min(left, len(block))]))
        left -= len(block)
    parts += [packer.compress(b"]"), packer.flush()]
    return Reply(200, b"".join(parts), {"Content-Encoding": "gzip"})


def enlarged(name: str, factor: int, key: str = "id") -> Reply:
    """A recorded array payload ``factor`` times over, each copy's ``key`` made unique."""
    items = json.loads(sample(name))
    copies = [
        {**item, key: f"{item[key]}-x{copy}" if copy else item[key]}
        for copy in range(factor)
        for item in items
    ]
    return Reply(200, json.dumps(copies).encode())


@dataclass(frozen=True)
class Seen:
    path: str
    query: str
    headers: dict[str, str]
    at: float


class FakeUpstream:
    """Scripted replies per path (``page=N`` of the markets path may be scripted apart)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._defaults: dict[str, Reply] = {}
        self._scripts: dict[str, deque[Reply]] = {}
        self.requests: list[Seen] = []
        self.base_url = ""
        self.app = Starlette(routes=[Route("/{path:path}", self._handle)])
        self.reset()

    def reset(self) -> None:
        """Back to the recorded defaults, with no scripts and an empty request log."""
        with self._lock:
            self._defaults = {
                TICKERS: recorded(PAPRIKA),
                MARKETS: recorded(GECKO),
                f"{MARKETS}?page=2": Reply(200, b"[]"),
            }
            self._scripts = {}
            self.requests = []

    @property
    def coinpaprika_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def coingecko_url(self) -> str:
        return f"{self.base_url}/api/v3"

    def serve(self, key: str, reply: Reply) -> None:
        """Answer every request for ``key`` (a path, or ``<markets path>?page=N``) with it."""
        with self._lock:
            self._defaults[key] = reply

    def script(self, key: str, *replies: Reply) -> None:
        """Answer the next requests for ``key`` with ``replies``, in order, then the default."""
        with self._lock:
            self._scripts.setdefault(key, deque()).extend(replies)

    def hits(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.requests if seen.path == path]

    def _pick(self, path: str, page: str | None) -> Reply:
        keys = ([f"{path}?page={page}"] if page else []) + [path]
        with self._lock:
            for key in keys:
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
            for key in keys:
                if key in self._defaults:
                    return self._defaults[key]
        return Reply(404, b'{"error":"not found"}')

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        with self._lock:
            self.requests.append(
                Seen(path, request.url.query, dict(request.headers), time.monotonic())
            )
        page = request.query_params.get("page")
        reply = self._pick(path, page if page and page != "1" else None)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.trickle:
            return StreamingResponse(
                _pieces(reply.body, reply.trickle),
                reply.status,
                headers=reply.headers,
                media_type=reply.content_type,
            )
        return Response(
            reply.body, reply.status, headers=reply.headers, media_type=reply.content_type
        )


async def _pieces(body: bytes, every: float) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 1024):
        yield body[start : start + 1024]
        await asyncio.sleep(every)


@contextlib.contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    """Serve a ``FakeUpstream`` on 127.0.0.1 for the duration of the block."""
    sample(PAPRIKA)
    upstream = FakeUpstream()
    with serve_in_thread(upstream.app) as base_url:
        upstream.base_url = base_url
        yield upstream
