"""Read an upstream response body with a size limit, decoding gzip/deflate as it streams.

The limit applies to the bytes received *and* to the bytes they decode to, so neither a
huge body nor a small one that inflates (a 300 KB gzip stream of 300 MB) can fill memory:
a ``Content-Length`` over the limit is refused before reading, and the decoders never make
more than ``PIECE_BYTES`` at a time, so reading stops within one piece of the limit. Only
``identity``, ``gzip`` (``x-gzip``) and ``deflate`` are decoded (the fetcher asks for
nothing else); any other ``Content-Encoding`` is refused. ``BodyRefused`` says why.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import httpx

PIECE_BYTES = 1 << 20
"""The most one decoding step produces (1 MiB)."""

LIMIT_SETTING = "HTTP_MAX_BODY_BYTES"


class BodyRefused(Exception):
    """The body is over the size limit or in an encoding this reader does not decode."""


class _Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]: ...

    def complete(self) -> bool: ...


class _Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def complete(self) -> bool:
        return True


class _Inflate:
    """gzip or zlib/raw deflate, ``PIECE_BYTES`` of output at a time."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._started = False

    def complete(self) -> bool:
        """The stream ended where the data says it ends (or there was none)."""
        return self._inflater.eof or not self._started

    def decode(self, data: bytes) -> Iterator[bytes]:
        first, self._started = not self._started, True
        try:
            out = self._inflater.decompress(data, PIECE_BYTES)
        except zlib.error:
            if self._gzip or not first:
                raise
            # "deflate" is sometimes sent raw, without the zlib header (as browsers accept).
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._inflater.decompress(data, PIECE_BYTES)
        while True:
            if out:
                yield out
            # A full piece may leave output pending inside zlib even with no input left.
            if not self._inflater.unconsumed_tail and len(out) < PIECE_BYTES:
                return
            out = self._inflater.decompress(self._inflater.unconsumed_tail, PIECE_BYTES)


def _decoder(coding: str) -> _Decoder:
    if coding in ("", "identity"):
        return _Identity()
    if coding in ("gzip", "x-gzip", "deflate"):
        return _Inflate(gzip=coding != "deflate")
    raise BodyRefused(f"the response uses Content-Encoding {coding!r}, which is not decoded")


def _chain(decoder: _Decoder, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from decoder.decode(piece)


def _through(decoders: list[_Decoder], data: bytes) -> Iterable[bytes]:
    """``data`` through every decoder in turn (the last applied encoding first)."""
    pieces: Iterable[bytes] = (data,)
    for decoder in decoders:
        pieces = _chain(decoder, pieces)
    return pieces


def read_body(reply: httpx.Response, limit: int, received: Callable[[int], None]) -> bytes:
    """The decoded body of a streamed ``reply``, at most ``limit`` bytes received and decoded.

    ``received`` is told the size of every raw piece as it arrives. Raises ``BodyRefused``
    (over the limit, an unknown encoding, a stream that does not decode).
    """
    announced = reply.headers.get("content-length", "").strip()
    if announced.isdigit() and int(announced) > limit:
        raise BodyRefused(
            f"the response announces {int(announced):,} bytes (Content-Length), "
            f"more than the limit of {limit:,} bytes ({LIMIT_SETTING})"
        )
    header = reply.headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    decoders = [_decoder(coding) for coding in reversed(codings)]
    wire = size = 0
    parts: list[bytes] = []
    try:
        for raw in reply.iter_raw():
            wire += len(raw)
            received(len(raw))
            if wire > limit:
                raise BodyRefused(
                    f"the response is larger than the limit of {limit:,} bytes ({LIMIT_SETTING})"
                )
            for piece in _through(decoders, raw):
                size += len(piece)
                if size > limit:
                    raise BodyRefused(
                        f"the response decodes ({header}) to more than the limit of "
                        f"{limit:,} bytes ({LIMIT_SETTING}) after {wire:,} bytes received"
                    )
                parts.append(piece)
    except zlib.error as exc:
        raise BodyRefused(f"the response is not valid {header} data ({exc})") from None
    if not all(decoder.complete() for decoder in decoders):
        raise BodyRefused(f"the response's {header} data is cut short ({wire:,} bytes received)")
    return b"".join(parts)
