"""Read an upstream response body with a size limit, decoding gzip/deflate as it streams.

The limit applies to the bytes received *and* to the bytes every decoding layer makes, so
neither a huge body nor a small one that inflates (a 300 KB gzip stream of 300 MB), nor one
whose inner layers inflate while the outermost stays small (``gzip, gzip``), can fill memory
or take unbounded work: a ``Content-Length`` over the limit is refused before reading, each
layer counts what it decodes against the limit, and no layer makes more than one piece at a
time. A piece is the limit shared out among the layers (at most ``PIECE_BYTES``), so all the
layers together hold about one limit's worth while they stream, whatever their number; what
is kept is the final output, within the limit. Only ``identity``, ``gzip`` (``x-gzip``) and
``deflate`` are decoded (the fetcher asks for nothing else), at most ``max_codings`` of them
(HTTP_MAX_CONTENT_CODINGS); any other ``Content-Encoding``, or more codings, is refused.
``BodyRefused`` says why.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple, Protocol

import httpx

PIECE_BYTES = 1 << 20
"""The most one decoding step produces (1 MiB)."""
SMALLEST_PIECE = 4096

LIMIT_SETTING = "HTTP_MAX_BODY_BYTES"
CODINGS_SETTING = "HTTP_MAX_CONTENT_CODINGS"
_SHOWN_HEADER = 80
"""Characters of a ``Content-Encoding`` header quoted in an error."""


class BodyRefused(Exception):
    """The body is over the size limit or in an encoding this reader does not decode."""


class _Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]: ...

    def complete(self) -> bool: ...


class _Inflate:
    """gzip or zlib/raw deflate, at most ``piece`` bytes of output at a time."""

    def __init__(self, gzip: bool, piece: int) -> None:
        self._gzip = gzip
        self._piece = piece
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._started = False

    def complete(self) -> bool:
        """The stream ended where the data says it ends (or there was none)."""
        return self._inflater.eof or not self._started

    def decode(self, data: bytes) -> Iterator[bytes]:
        first, self._started = not self._started, True
        piece = self._piece
        try:
            out = self._inflater.decompress(data, piece)
        except zlib.error:
            if self._gzip or not first:
                raise
            # "deflate" is sometimes sent raw, without the zlib header (as browsers accept).
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._inflater.decompress(data, piece)
        while True:
            if out:
                yield out
            # A full piece may leave output pending inside zlib even with no input left.
            if not self._inflater.unconsumed_tail and len(out) < piece:
                return
            out = self._inflater.decompress(self._inflater.unconsumed_tail, piece)


class _Layer(NamedTuple):
    coding: str
    decoder: _Decoder


def _shown(header: str) -> str:
    return header if len(header) <= _SHOWN_HEADER else header[:_SHOWN_HEADER] + "…"


def _codings(header: str, max_codings: int) -> list[str]:
    """The codings ``header`` lists, the last applied first; raise ``BodyRefused`` for more
    than ``max_codings`` or one not decoded. ``identity`` is no layer."""
    listed = [c.strip().lower() for c in header.split(",") if c.strip()]
    if len(listed) > max_codings:
        raise BodyRefused(
            f"the response lists {len(listed):,} content codings ({_shown(header)}), more than "
            f"the {max_codings} decoded ({CODINGS_SETTING})"
        )
    for coding in listed:
        if coding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise BodyRefused(
                f"the response uses Content-Encoding {_shown(coding)!r}, which is not decoded"
            )
    return [coding for coding in reversed(listed) if coding != "identity"]


class _Body:
    """One body being read: bytes received so far and every layer's output, both bounded."""

    def __init__(self, header: str, limit: int, max_codings: int) -> None:
        self.header = header
        self.limit = limit
        self.wire = 0
        codings = _codings(header, max_codings)
        # Each layer holds up to a piece of output and a piece of input not yet consumed.
        piece = max(SMALLEST_PIECE, min(PIECE_BYTES, limit // (2 * len(codings) + 2)))
        self.layers = [_Layer(c, _Inflate(c != "deflate", piece)) for c in codings]

    def through(self, data: bytes) -> Iterable[bytes]:
        """``data`` (as received) through every layer in turn."""
        pieces: Iterable[bytes] = (data,)
        for depth, layer in enumerate(self.layers):
            pieces = self._counted(layer, depth, pieces)
        return pieces

    def _counted(self, layer: _Layer, depth: int, pieces: Iterable[bytes]) -> Iterator[bytes]:
        made = 0
        for piece in pieces:
            for out in layer.decoder.decode(piece):
                made += len(out)
                if made > self.limit:
                    raise BodyRefused(self._too_large(layer, depth))
                yield out

    def _too_large(self, layer: _Layer, depth: int) -> str:
        count = len(self.layers)
        where = "" if count == 1 else f" in its layer {depth + 1} of {count} ({layer.coding})"
        return (
            f"the response decodes ({_shown(self.header)}) to more than the limit of "
            f"{self.limit:,} bytes ({LIMIT_SETTING}){where} after {self.wire:,} bytes received"
        )

    def complete(self) -> bool:
        return all(layer.decoder.complete() for layer in self.layers)


def read_body(
    reply: httpx.Response, limit: int, received: Callable[[int], None], max_codings: int = 2
) -> bytes:
    """The decoded body of a streamed ``reply``: at most ``limit`` bytes received, and at
    most ``limit`` bytes made by each of at most ``max_codings`` decoding layers.

    ``received`` is told the size of every raw piece as it arrives. Raises ``BodyRefused``
    (over a limit, an unknown encoding, a stream that does not decode).
    """
    announced = reply.headers.get("content-length", "").strip()
    if announced.isdigit() and int(announced) > limit:
        raise BodyRefused(
            f"the response announces {int(announced):,} bytes (Content-Length), "
            f"more than the limit of {limit:,} bytes ({LIMIT_SETTING})"
        )
    header = reply.headers.get("content-encoding", "")
    body = _Body(header, limit, max_codings)
    shown = _shown(header)
    parts: list[bytes] = []
    try:
        for raw in reply.iter_raw():
            body.wire += len(raw)
            received(len(raw))
            if body.wire > limit:
                raise BodyRefused(
                    f"the response is larger than the limit of {limit:,} bytes ({LIMIT_SETTING})"
                )
            parts.extend(body.through(raw))
    except zlib.error as exc:
        raise BodyRefused(f"the response is not valid {shown} data ({exc})") from None
    if not body.complete():
        raise BodyRefused(
            f"the response's {shown} data is cut short ({body.wire:,} bytes received)"
        )
    return b"".join(parts)
