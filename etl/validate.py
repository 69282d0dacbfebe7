"""Validation and normalization shared by every source.

A valid row becomes an ``etl.model.Row`` tuple. Its timestamp is naive UTC text
``YYYY-MM-DD HH:MM:SS.ffffff``: exactly what ``UTCDateTime`` stores on SQLite, accepted by
PostgreSQL as UTC, and ordered like the instants it names, so the pipeline compares and
formats timestamps without building datetimes per row. Anything invalid raises
``RecordRejected`` with a reason a person can act on.

What passes fits the store on both databases: text is checked after normalization (trimmed,
symbols upper-cased, which can lengthen them: ``ß`` → ``SS``) against the lengths of the
columns it goes to (``db.tables``, declared there once), holds no character that PostgreSQL
or UTF-8 cannot store (NUL, lone surrogates) nor any that would make it display as other
text, and a symbol none that would make it look like another (``etl.text_rules``); numbers
are finite floats; timestamps lie in [2009-01-01, now + the allowed clock skew].
"""

from __future__ import annotations

import logging
import math
import reprlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, String

from kasparro.db.tables import asset_aliases, assets, latest_records, records
from kasparro.etl.errors import RecordRejected
from kasparro.etl.text_rules import (
    forbidden_character,
    forbidden_symbol_character,
    unnormalized,
)

log = logging.getLogger(__name__)

STAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
EARLIEST = datetime(2009, 1, 1, tzinfo=UTC)
_CACHE_LIMIT = 200_000
_LONGEST_STAMP = 100
"""Longer timestamp text is refused unparsed, and so never cached (ISO-8601 needs at most 32
characters)."""
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60  # characters of an offending value quoted in a reason
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
"""Trimmed from a value's ends like whitespace (real names carry them: a CoinGecko name
starts with two U+200B); inside a value they are rejected."""
_PADDING = 16
"""A value longer than this many times its column is refused before it is trimmed, so no
check ever walks more than that many characters."""


def _length(*columns: Column[str]) -> int:
    """The room in every one of ``columns`` (``String(n)`` columns)."""
    lengths = []
    for column in columns:
        kind = column.type
        assert isinstance(kind, String) and kind.length is not None, column
        lengths.append(kind.length)
    return min(lengths)


SYMBOL_LIMIT = _length(records.c.symbol, assets.c.symbol)
NAME_LIMIT = _length(records.c.name, assets.c.name)
ID_LIMIT = _length(records.c.record_id, asset_aliases.c.record_id, latest_records.c.record_id)


def shown(value: object) -> str:
    """A short ``repr`` of ``value`` for quoting in a reason; bounded work whatever its size
    (long strings and lists are cut, deep structures stop at a few levels)."""
    try:
        return _SHORT.repr(value)
    except ValueError:  # an int past the digit limit
        return f"<{type(value).__name__}>"


def as_reject(exc: Exception, source: str) -> RecordRejected:
    """``exc`` raised while validating a row or item of ``source``, as a reject: a
    ``RecordRejected`` as it is, anything else (which validation did not foresee) as an
    "internal error …" reject, logged with its traceback. Either way one bad row or item
    never fails its source."""
    if isinstance(exc, RecordRejected):
        return exc
    log.error("validating a row of %s failed unexpectedly", source, exc_info=exc)
    problem = f"{type(exc).__name__}: {exc}"[:200]
    return RecordRejected(f"internal error: {problem}", "internal error")


def stamp_text(moment: datetime) -> str:
    """Canonical text of an aware datetime (naive UTC, microseconds)."""
    return moment.astimezone(UTC).strftime(STAMP_FORMAT)


def stamp_datetime(text: str) -> datetime:
    """Inverse of ``stamp_text``."""
    return datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=UTC)


class TimestampParser:
    """Parse ISO-8601 timestamps to canonical text, bounded to [2009-01-01, now + max_future].

    "Now" is the time each timestamp is checked, not the time the parser was made: a source
    that reads for minutes (slow pages, a long file) judges a fresh item against the clock
    when it arrives. It is ``now`` (the wall clock when the parser is made) plus the time
    elapsed since on ``clock``, a monotonic clock: cheap, and a step of the wall clock
    during a run moves nothing. Text without an offset is UTC. Results are memoised
    (market data repeats the same timestamps across many coins, so most rows cost one
    dictionary lookup); only accepted ones are, and an accepted timestamp stays acceptable
    as the clock advances.
    """

    def __init__(
        self, now: datetime, max_future: timedelta, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._started = clock()
        self._latest = now + max_future
        """The latest timestamp accepted at ``_started``."""
        self._max_future = max_future
        self.known: dict[str, str] = {}
        """Raw text → canonical text of every timestamp parsed so far (a fast path)."""

    def __call__(self, raw: str) -> str:
        if len(raw) > _LONGEST_STAMP:
            raise RecordRejected(
                f"timestamp {shown(raw)} is not ISO-8601", "timestamp is not ISO-8601"
            )
        text = self.known.get(raw)
        if text is not None:
            return text
        text = self._parse(raw)
        if len(self.known) >= _CACHE_LIMIT:
            self.known.clear()
        self.known[raw] = text
        return text

    def _parse(self, raw: str) -> str:
        value = raw.strip()
        if not value:
            raise RecordRejected("timestamp is empty")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise RecordRejected(
                f"timestamp {shown(raw)} is not ISO-8601", "timestamp is not ISO-8601"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise RecordRejected(
                f"timestamp {shown(raw)} is out of range (in UTC it falls outside the years "
                "1 to 9999)",
                "timestamp is out of range",
            ) from None
        if moment < EARLIEST:
            raise RecordRejected(
                f"timestamp {shown(raw)} is before 2009-01-01", "timestamp is before 2009-01-01"
            )
        if moment > self._latest and moment > self._latest + timedelta(
            seconds=self._clock() - self._started
        ):
            allowed = int(self._max_future.total_seconds())
            raise RecordRejected(
                f"timestamp {shown(raw)} is in the future by more than the {allowed} s of clock "
                "skew allowed (ETL_MAX_FUTURE_SECONDS)",
                "timestamp is in the future",
            )
        return moment.strftime(STAMP_FORMAT)


def _finite(number: float, value: object, field: str) -> float:
    if not 0.0 <= number < math.inf:
        raise RecordRejected(
            f"{field} {shown(value)} must be a finite number >= 0",
            f"{field} must be a finite number >= 0",
        )
    return number


def csv_number(raw: str, field: str, *, required: bool) -> float | None:
    """A finite number >= 0 from CSV text; empty is None unless ``required``."""
    if not raw:
        if required:
            raise RecordRejected(f"{field} is empty")
        return None
    try:
        number = float(raw)
    except ValueError:
        raise RecordRejected(
            f"{field} {shown(raw)} is not a number", f"{field} is not a number"
        ) from None
    return _finite(number, raw, field)


def json_number(value: object, field: str, *, required: bool) -> float | None:
    """A finite number >= 0 from a JSON value; null/absent is None unless ``required``."""
    if value is None:
        if required:
            raise RecordRejected(f"{field} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRejected(f"{field} {shown(value)} is not a number", f"{field} is not a number")
    try:
        number = float(value)
    except OverflowError:
        digits = len(str(abs(value)))
        raise RecordRejected(
            f"{field} is too large: an integer of {digits} digits does not fit a float",
            f"{field} is too large",
        ) from None
    return _finite(number, value, field)


def clean_text(value: object, field: str, *, limit: int, symbol: bool = False) -> str:
    """A non-empty string, trimmed of whitespace and zero-width characters, of at most
    ``limit`` characters, that displays as what it is; a ``symbol`` is upper-cased and may
    not even look like another (``etl.text_rules``)."""
    if not isinstance(value, str):
        raise RecordRejected(f"{field} is missing" if value is None else f"{field} is not text")
    if len(value) > _PADDING * limit:
        raise RecordRejected(
            f"{field} is longer than {limit} characters ({len(value)})",
            f"{field} is longer than {limit} characters",
        )
    text = value.strip() if value.isascii() else _trimmed(value)
    if not text:
        raise RecordRejected(f"{field} is empty")
    trimmed = len(text)
    if symbol:
        text = text.upper()
    if len(text) > limit:
        after = f" ({len(text)} once upper-cased)" if len(text) > trimmed else ""
        raise RecordRejected(
            f"{field} is longer than {limit} characters{after}",
            f"{field} is longer than {limit} characters",
        )
    if not (text.isascii() and text.isprintable()):
        forbidden = forbidden_symbol_character if symbol else forbidden_character
        for position, char in enumerate(text, 1):
            problem = forbidden(text, position - 1)
            if problem is not None:
                raise RecordRejected(
                    f"{field} contains {problem} (U+{ord(char):04X}) at character {position}",
                    f"{field} contains {problem}",
                )
        normal = unnormalized(text) if symbol else None
        if normal is not None:
            kind = f"{field} is not in NFKC normal form"
            raise RecordRejected(f"{kind} (it would be {_SHORT.repr(normal)})", kind)
    return text


def _trimmed(value: str) -> str:
    """``value`` without whitespace and zero-width characters at its ends."""
    start, end = 0, len(value)
    while start < end and (value[start].isspace() or value[start] in _ZERO_WIDTH):
        start += 1
    while end > start and (value[end - 1].isspace() or value[end - 1] in _ZERO_WIDTH):
        end -= 1
    return value[start:end]


def symbol_text(value: object) -> str:
    """Symbols are stored upper-case."""
    return clean_text(value, "symbol", limit=SYMBOL_LIMIT, symbol=True)


def name_text(value: object) -> str:
    return clean_text(value, "name", limit=NAME_LIMIT)


def record_id_text(value: object) -> str:
    return clean_text(value, "id", limit=ID_LIMIT)
