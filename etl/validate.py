"""Validation and normalization shared by every source.

A valid row becomes an ``etl.model.Row`` tuple. Its timestamp is naive UTC text
``YYYY-MM-DD HH:MM:SS.ffffff``: exactly what ``UTCDateTime`` stores on SQLite, accepted by
PostgreSQL as UTC, and ordered like the instants it names, so the pipeline compares and
formats timestamps without building datetimes per row. Anything invalid raises
``RecordRejected`` with a reason a person can act on.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from etl.errors import RecordRejected

STAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
EARLIEST = datetime(2009, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
_CACHE_LIMIT = 200_000
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def stamp_text(moment: datetime) -> str:
    """Canonical text of an aware datetime (naive UTC, microseconds)."""
    return moment.astimezone(UTC).strftime(STAMP_FORMAT)


def stamp_datetime(text: str) -> datetime:
    """Inverse of ``stamp_text``."""
    return datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=UTC)


class TimestampParser:
    """Parse ISO-8601 timestamps to canonical text, bounded to [2009-01-01, now + 1 day].

    Text without an offset is UTC. Results are memoised: market data repeats the same
    timestamps across many coins, so most rows cost one dictionary lookup.
    """

    def __init__(self, now: datetime) -> None:
        self._low = stamp_text(EARLIEST)
        self._high = stamp_text(now + FUTURE_SLACK)
        self.known: dict[str, str] = {}
        """Raw text → canonical text of every timestamp parsed so far (a fast path)."""

    def __call__(self, raw: str) -> str:
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
            raise RecordRejected(f"timestamp {raw!r} is not ISO-8601") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        text = stamp_text(moment)
        if text < self._low:
            raise RecordRejected(f"timestamp {raw!r} is before 2009-01-01")
        if text > self._high:
            raise RecordRejected(f"timestamp {raw!r} is more than a day in the future")
        return text


def csv_number(raw: str, field: str, *, required: bool) -> float | None:
    """A finite number >= 0 from CSV text; empty is None unless ``required``."""
    if not raw:
        if required:
            raise RecordRejected(f"{field} is empty")
        return None
    try:
        number = float(raw)
    except ValueError:
        raise RecordRejected(f"{field} {raw!r} is not a number") from None
    if not 0.0 <= number < math.inf:
        raise RecordRejected(f"{field} {raw!r} must be a finite number >= 0")
    return number


def json_number(value: object, field: str, *, required: bool) -> float | None:
    """A finite number >= 0 from a JSON value; null/absent is None unless ``required``."""
    if value is None:
        if required:
            raise RecordRejected(f"{field} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRejected(f"{field} {value!r} is not a number")
    number = float(value)
    if not 0.0 <= number < math.inf:
        raise RecordRejected(f"{field} {value!r} must be a finite number >= 0")
    return number


def clean_text(value: object, field: str, *, limit: int) -> str:
    """A non-empty string without surrounding or zero-width whitespace."""
    if not isinstance(value, str):
        raise RecordRejected(f"{field} is missing" if value is None else f"{field} is not text")
    text = value.strip()
    if not text.isascii():
        text = text.translate(_ZERO_WIDTH).strip()
    if not text:
        raise RecordRejected(f"{field} is empty")
    if "\x00" in text:
        raise RecordRejected(f"{field} contains a NUL character")
    if len(text) > limit:
        raise RecordRejected(f"{field} is longer than {limit} characters")
    return text


def symbol_text(value: object) -> str:
    """Symbols are stored upper-case."""
    return clean_text(value, "symbol", limit=64).upper()


def name_text(value: object) -> str:
    return clean_text(value, "name", limit=300)


def record_id_text(value: object) -> str:
    return clean_text(value, "id", limit=200)
