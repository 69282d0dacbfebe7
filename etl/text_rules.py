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
  code points, and the line and paragraph separators (Zl, Zp).
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
    problem = _CATEGORIES.get(unicodedata.category(char))
    if problem is not None:
        return problem
    return _INVISIBLE if _within(code, _BLANK) else None
