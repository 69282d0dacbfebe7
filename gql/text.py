"""Text from clients is valid Unicode: one check where bytes or JSON become text.

Python strings can hold lone surrogates (U+D800 to U+DFFF on their own), which no UTF-8
encoder, database driver or JSON response can carry: a ``"\\ud800"`` escape in JSON decodes
to one, and it fails only later, deep in a query or while writing the answer (a 500).
So every place where a request's bytes or JSON turn into text goes through here:

- ``load_json(body, what)``: a request body (GraphQL POST, ``POST /etl/run``) or a JSON
  query parameter (GraphQL GET ``variables``): strict UTF-8, JSON, and no lone surrogate in
  any string or key of the result;
- ``has_lone_surrogate(text)``: for JSON decoded elsewhere (a cursor's payload).

Query-string parameters need nothing more: Starlette decodes them as UTF-8, replacing what
is not. GraphQL string literals cannot hold a lone surrogate either: the parser refuses the
escape (``"\\ud800"`` is a syntax error) and the raw character never reaches it, since the
document is JSON text checked here. Every refusal is a ``BadInput`` (400).
"""

from __future__ import annotations

import json
import re
from typing import Any

from kasparro.gql.errors import BadInput

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""Where JSON text may write a surrogate: a decoded value can hold a lone one only if its
text has such an escape (or a raw one, which no UTF-8 decoded text has)."""


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a code point no UTF-8 text can (a lone surrogate)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def _first_bad_string(value: Any) -> str | None:
    """A string (or key) within ``value`` holding a lone surrogate, if any.

    Iterative: JSON as deep as the body limit allows must not exhaust the stack.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def load_json(data: bytes | str, what: str) -> Any:
    """``data`` parsed as JSON; ``BadInput`` unless it is UTF-8 text free of lone surrogates.

    ``what`` names the input in the message (``request body``, ``variables``).
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(
                f"{what}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                "send JSON encoded as UTF-8"
            ) from None
    try:
        value = json.loads(data)
    except RecursionError:
        raise BadInput(f"{what}: JSON nested too deeply") from None
    except ValueError as exc:
        raise BadInput(f"{what}: not valid JSON ({exc})") from None
    # The walk over every string is Python, about 40 ms for a 1 MB list of short strings:
    # only a text that writes a surrogate escape somewhere needs it (a C search, 1 ms).
    if not _SURROGATE_ESCAPE.search(data) and not has_lone_surrogate(data):
        return value
    bad = _first_bad_string(value)
    if bad is not None:
        raise BadInput(
            f"{what}: a string holds a lone surrogate (an unpaired \\ud800-\\udfff escape), "
            "which is not Unicode text; send each character as itself or as a surrogate pair"
        )
    return value
