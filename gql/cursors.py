"""Opaque keyset cursors for records.

A cursor is the ``gql.tokens`` token (urlsafe base64 of compact JSON) of
``["k1", order, timestamp, source, record_id]``: the key of the last row a client has seen
and the order it was read in. Clients must treat it as opaque. Decoding checks every
part (text free of NUL and lone surrogates, which no database holds), so a truncated,
tampered or foreign token is a ``BadInput`` with a clear message, never a server error; a
cursor read in one order cannot continue the other.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kasparro.db.queries import Keyset, Order
from kasparro.gql.errors import BadInput
from kasparro.gql.tokens import decode_token, encode_token

_VERSION = "k1"
CURSOR_MAX_LENGTH = 1024


def encode_cursor(key: Keyset, order: Order) -> str:
    """The opaque token for continuing after ``key`` in ``order``."""
    return encode_token([_VERSION, order, key.timestamp.isoformat(), key.source, key.record_id])


def _invalid(why: str) -> BadInput:
    return BadInput(
        f"invalid cursor: {why}; pass a cursor exactly as this service returned it, "
        "or leave it out to start from the first page"
    )


def decode_cursor(token: str, order: Order) -> Keyset:
    """The key inside ``token``; raise ``BadInput`` unless it is ours and fits ``order``."""
    if len(token) > CURSOR_MAX_LENGTH:
        raise _invalid("too long")
    parts = decode_token(token)
    if parts is None or len(parts) != 5 or parts[0] != _VERSION:
        raise _invalid("not a token issued by this service")
    _, cursor_order, stamp, source, record_id = parts
    if cursor_order not in ("asc", "desc"):
        raise _invalid("unknown order")
    if cursor_order != order:
        raise BadInput(
            f"cursor was issued for order {cursor_order.upper()} but this request asks for "
            f"{order.upper()}: keep the same order while paging, or start again without a cursor"
        )
    try:
        timestamp = datetime.fromisoformat(stamp)
        if timestamp.tzinfo is None:
            raise ValueError("no time zone")
        timestamp = timestamp.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _invalid("bad timestamp") from None
    return Keyset(timestamp, source, record_id)
