"""Which characters a stored symbol, name or id may not hold.

A value must display as what it is and be storable as UTF-8 on both databases, so these are
refused wherever they appear (after the value's ends are trimmed):

* control characters (Cc: NUL, which PostgreSQL text cannot hold, newlines, tabs, escape);
* lone surrogates (Cs: not Unicode text; no UTF-8 encoding exists);
* invisible format characters (Cf: bidirectional overrides and isolates such as U+202E,
  the soft hyphen U+00AD, zero-width spaces, word joiners, tags), except a zero-width
  (non-)joiner between two non-ASCII characters, where emoji sequences and several scripts
  need it;
* other characters that Unicode marks default-ignorable, i.e. rendered as nothing (the
  combining grapheme joiner, Hangul fillers, Mongolian and other variation selectors), and
  the blank Braille pattern U+2800; a variation selector is allowed right after a non-ASCII
  character (emoji presentation: ``❤️``);
* private-use (Co) and unassigned (Cn, per the Unicode version of Python's ``unicodedata``)
  code points, and the line and paragraph separators (Zl, Zp);
* compatibility characters, which NFKC normalization replaces: full-width letters,
  ligatures, circled, super- and subscript letters, signs such as U+212A KELVIN (a space
  other than U+0020 excepted outside symbols: ``Ether\u00a0Coin`` is a name).

A symbol is the key of a coin, so it must not merely look like another one; besides the
above it may not hold (``forbidden_symbol_character``):

* combining marks (Mn, Me: ``B̶T̶C̶``, ``B`` + 60 accents), a variation selector right after
  a non-ASCII character excepted, as above;
* a space other than U+0020 (Zs: the no-break space in ``B\u00a0TC``);

and it must be in NFKC normal form as a whole (``unnormalized``), so no sequence composes
into another character. Letters of other scripts that only look like Latin ones (Cyrillic
``\u0412\u0422\u0421``) are not refused: that needs a table of confusables.
"""

from __future__ import annotations

import unicodedata

_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a lone surrogate (not valid Unicode text)",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
_SYMBOL_CATEGORIES = {
    "Mn": "a combining mark",
    "Me": "a combining mark",
    "Zs": "a space other than U+0020",
}
_COMPATIBILITY = "a compatibility character (NFKC replaces it)"
_NUL = "a NUL character"
_INVISIBLE = "an invisible character"
_JOINERS = frozenset("\u200c\u200d")
_BLANK = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0100, 0xE01EF),
)
"""Default-ignorable code points outside the C categories, and U+2800."""
_VARIATION = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF), (0x180B, 0x180D), (0x180F, 0x180F))


def _within(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def _non_ascii(text: str, index: int) -> bool:
    return 0 <= index < len(text) and not text[index].isascii()


def forbidden_character(text: str, index: int) -> str | None:
    """Why ``text[index]`` may not be stored (``a control character``, …), or None."""
    char = text[index]
    if char.isascii():
        if char.isprintable():
            return None
        return _NUL if char == "\x00" else _CATEGORIES["Cc"]
    code = ord(char)
    if char in _JOINERS:
        between = _non_ascii(text, index - 1) and _non_ascii(text, index + 1)
        return None if between else _CATEGORIES["Cf"]
    if _within(code, _VARIATION):
        return None if _non_ascii(text, index - 1) else _INVISIBLE
    category = unicodedata.category(char)
    problem = _CATEGORIES.get(category)
    if problem is not None:
        return problem
    if _within(code, _BLANK):
        return _INVISIBLE
    if category != "Zs" and unicodedata.normalize("NFKC", char) != char:
        return _COMPATIBILITY
    return None


def forbidden_symbol_character(text: str, index: int) -> str | None:
    """Why ``text[index]`` may not be in a symbol: ``forbidden_character``'s reasons, a
    combining mark, a space other than U+0020; or None."""
    problem = forbidden_character(text, index)
    char = text[index]
    if problem is not None or char.isascii() or _within(ord(char), _VARIATION):
        return problem  # a variation selector forbidden_character allowed is allowed here
    return _SYMBOL_CATEGORIES.get(unicodedata.category(char))


def unnormalized(text: str) -> str | None:
    """``text`` in NFKC normal form when that differs from ``text`` (a sequence that composes
    into one character), else None."""
    normal = unicodedata.normalize("NFKC", text)
    return None if normal == text else normal
