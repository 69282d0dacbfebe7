"""Parse an API page into its items, so that no single item can make the whole page unusable.

A page is parsed whole with ``json.loads`` (fast, in C). Two limits of that parser are about
one value, not the page: integers longer than Python's 4,300 digits (``ValueError``), which
are read here as floats (so an over-long number is infinite and validation rejects it), and
nesting deeper than the interpreter's recursion limit (``RecursionError``). On the latter the
page is split into the texts of its top-level elements with a scanner of strings and
brackets, and each element is parsed alone: one too deep becomes an ``Unparsed`` item, to be
rejected with its text, and the others are kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kasparro.etl.errors import RecordRejected

_DIGIT_LIMIT = 4300
"""Python's default limit on the digits of an ``int`` parsed from text."""
_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)|[\[\]{},]')
"""JSON strings (skipped whole, so brackets inside them do not count; one left open runs to
the end, and nothing is tried twice, so the scan is linear), brackets, commas."""


@dataclass(frozen=True, slots=True)
class Unparsed:
    """A top-level element of a page that could not be parsed on its own."""

    reason: str
    kind: str
    text: str


def _integer(text: str) -> int | float:
    return int(text) if len(text) <= _DIGIT_LIMIT else float(text)


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_int=_integer)


def page_items(content: bytes) -> list[Any]:
    """The items of a page that holds a JSON array; an element that cannot be parsed alone
    is an ``Unparsed``. Raise ``RecordRejected`` saying what came instead of an array."""
    try:
        body = _loads(content)
    except RecursionError:
        return _items_one_by_one(content)
    except (ValueError, UnicodeDecodeError) as exc:
        head = content[:60].decode("utf-8", "replace")
        raise RecordRejected(
            f"response is not valid JSON ({exc}); it starts {head!r}",
            "response is not valid JSON",
        ) from None
    if isinstance(body, list):
        return body
    kind = "expected a JSON array of items"
    raise RecordRejected(f"{kind}, got {type(body).__name__}", kind)


def _items_one_by_one(content: bytes) -> list[Any]:
    text = content.decode(json.detect_encoding(content), "replace")
    elements = split_array(text)
    if elements is None:
        kind = "response is nested too deeply to parse"
        raise RecordRejected(f"{kind}, and it is not an array of items", kind)
    items: list[Any] = []
    for element in elements:
        try:
            items.append(_loads(element))
        except RecursionError:
            kind = "item is nested too deeply to parse"
            items.append(Unparsed(kind, kind, element))
        except ValueError as exc:
            kind = "item is not valid JSON"
            items.append(Unparsed(f"{kind} ({exc})", kind, element))
    return items


def split_array(text: str) -> list[str] | None:
    """The texts of the top-level elements of the JSON array ``text``; None when ``text``
    does not start with ``[`` or the array never closes."""
    if not text.lstrip().startswith("["):
        return None
    elements: list[str] = []
    depth, begin = 0, 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth == 1:
                begin = match.end()
        elif token in "]}":
            depth -= 1
            if depth == 0:
                last = text[begin : match.start()]
                if elements or last.strip():
                    elements.append(last)
                return elements
        elif token == "," and depth == 1:
            elements.append(text[begin : match.start()])
            begin = match.end()
    return None
