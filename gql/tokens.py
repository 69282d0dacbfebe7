"""Opaque tokens: the urlsafe base64 (unpadded) of a compact JSON array of strings.

Cursors (``gql.cursors``) and object ids (``gql.identity``) are both such tokens, so a
client sees one kind of opaque text and the service decodes it in one place.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from kasparro.gql.text import has_lone_surrogate

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""``json.dumps(…, separators=(",", ":"), ensure_ascii=False)`` without building an encoder
per call (a third of the cost of a token, and pages make one per row)."""


def encode_token(parts: Sequence[str]) -> str:
    """The token holding ``parts``."""
    payload = _COMPACT(list(parts))
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode("ascii")


def decode_token(token: str) -> list[str] | None:
    """The parts inside ``token``, or None unless it is a token of strings that could be
    stored (free of NUL and lone surrogates, which no database holds)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        parts = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(parts, list) or not all(
        isinstance(part, str) and "\x00" not in part and not has_lone_surrogate(part)
        for part in parts
    ):
        return None
    return parts
