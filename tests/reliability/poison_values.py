"""Hypothesis strategies for poisoned input: values each of which validation must reject.

Values are JSON text (``json_*``) for the API sources, so they can hold what Python's
``json.dumps`` will not write (integers past 4,300 digits, nesting past the recursion
limit), or CSV cell text (``csv_*``). Every strategy here draws only invalid values; the
tests also mix in arbitrary values, valid or not, where the property is weaker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from kasparro.etl.validate import ID_LIMIT, NAME_LIMIT, SYMBOL_LIMIT

FORBIDDEN = st.one_of(
    st.characters(categories=["Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"]),
    st.sampled_from("\u034f\u115f\u1160\u17b4\u180b\u2800\u3164\ufe0f\uffa0\U000e0100"),
)
"""Characters no stored text may hold (``etl.text_rules``), placed between ASCII letters."""
LOOKALIKE = st.one_of(
    st.characters(categories=["Mn", "Me", "Zs"], exclude_characters=" \u0345"),
    st.sampled_from("\uff22\uff41\u2122\u212a\u00b2\u2460\ufe63\U0001d400"),
)
"""Characters no symbol may hold besides those: combining marks (U+0345 upper-cases to a
letter), spaces other than U+0020, compatibility characters (full-width letters, ``™``, …)."""
GROWS = st.sampled_from("\u00df\ufb03\u0149\u01f0\u0390\ufb00\u1e96")
"""Letters that upper-case to two or three characters."""
LETTERS = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1)
LIMITS = {"id": ID_LIMIT, "symbol": SYMBOL_LIMIT, "name": NAME_LIMIT}


@st.composite
def bad_text(draw: st.DrawFn, field: str) -> str:
    """Text that cannot be stored as ``field``: a hidden character (in a symbol, also one
    that makes it look like another), too long (after upper-casing, for symbols), or
    blank."""
    kind = draw(st.sampled_from(["hidden", "long", "grows", "blank"]))
    if kind == "hidden":
        hidden = st.one_of(FORBIDDEN, LOOKALIKE) if field == "symbol" else FORBIDDEN
        return draw(LETTERS) + draw(hidden) + draw(LETTERS)
    if kind == "grows" and field == "symbol":
        letter = draw(GROWS)
        fewest = SYMBOL_LIMIT // len(letter.upper()) + 1
        return letter * draw(st.integers(fewest, SYMBOL_LIMIT))
    if kind in ("long", "grows"):
        limit = LIMITS[field]
        return "x" * draw(st.integers(limit + 1, limit * 3))
    return draw(st.sampled_from(["", " ", "\u200b \u200b", "\t"]))


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


JSON_NOT_TEXT = st.one_of(
    st.integers().map(str),
    st.sampled_from(["true", "false", "1.5", "{}", '{"a": "b"}', '["x"]']),
    st.integers(100, 3000).map(deep),
)
JSON_BAD_NUMBER = st.one_of(
    st.integers(310, 6000).map(lambda digits: "9" * digits),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1", "-0.5", "true", "[1]"]),
    st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=20).map(json.dumps),
    st.integers(100, 3000).map(deep),
)


@st.composite
def bad_stamp(draw: st.DrawFn, now: datetime, skew: timedelta, layout: str = "iso") -> str:
    """Timestamp text outside [2009-01-01, now + skew], or not a timestamp."""
    kind = draw(st.sampled_from(["after-9999", "before-1", "early", "future", "garbage"]))
    if kind == "after-9999":
        hours = draw(st.integers(1, 12))
        return f"9999-12-31T{24 - hours:02d}:30:00-{hours:02d}:00"
    if kind == "before-1":
        hours = draw(st.integers(1, 12))
        return f"0001-01-01T{hours - 1:02d}:00:00+{hours:02d}:00"
    if kind == "early":
        moment = draw(st.datetimes(datetime(1900, 1, 1), datetime(2008, 12, 31)))
    elif kind == "future":
        ahead = draw(st.integers(int(skew.total_seconds()) + 60, 10**9))
        moment = (now + timedelta(seconds=ahead)).replace(tzinfo=None)
    else:
        return draw(st.sampled_from(["yesterday", "29/04/2013 23:59", "2021-13-01", "2021-02-30"]))
    if layout == "iso":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def now_utc() -> datetime:
    return datetime.now(UTC)
