"""Turn client input (GraphQL arguments or REST query parameters) into typed query input.

Both interfaces call these functions, so they accept and refuse exactly the same things:
source names are lower-cased and checked against ``etl.config.KNOWN_SOURCES``, symbols
upper-cased (they are stored upper-case), timestamps without an offset read as UTC, and a
page size must lie between 1 and MAX_PAGE_SIZE. Every refusal is a ``BadInput``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from kasparro.db.queries import Keyset, Order, RecordFilters
from kasparro.etl.config import KNOWN_SOURCES
from kasparro.gql.cursors import decode_cursor
from kasparro.gql.errors import BadInput

MAX_FILTER_VALUES = 100
MAX_VALUE_LENGTH = 200


def plain_values(name: str, values: Iterable[str] | None) -> tuple[str, ...]:
    """Stripped, de-duplicated values; empty ones are dropped. NUL is refused (PostgreSQL
    cannot hold it in text, so it could never match). At most MAX_FILTER_VALUES may be
    given, empty ones included (the limit is on what the client sends)."""
    if values is None:
        return ()
    given = list(values)
    if len(given) > MAX_FILTER_VALUES:
        raise BadInput(f"{name}: at most {MAX_FILTER_VALUES} values per request")
    cleaned: list[str] = []
    for value in given:
        value = value.strip()
        if not value:
            continue
        if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
            raise BadInput(
                f"{name}: {value[:40]!r} is not a valid value "
                f"(text of at most {MAX_VALUE_LENGTH} characters, without NUL)"
            )
        cleaned.append(value)
    return tuple(dict.fromkeys(cleaned))


def sources(name: str, values: Iterable[str] | None) -> tuple[str, ...]:
    """Lower-cased source names, each one a known source."""
    names = tuple(dict.fromkeys(value.lower() for value in plain_values(name, values)))
    unknown = [value for value in names if value not in KNOWN_SOURCES]
    if unknown:
        raise BadInput(
            f"{name}: unknown source {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(KNOWN_SOURCES)})"
        )
    return names


def symbols(name: str, values: Iterable[str] | None) -> tuple[str, ...]:
    """Upper-cased symbols (symbol filters ignore case)."""
    return tuple(dict.fromkeys(value.upper() for value in plain_values(name, values)))


def utc(name: str, value: datetime | None) -> datetime | None:
    """``value`` in UTC; a timestamp without an offset is taken to be UTC already."""
    if value is None:
        return None
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except OverflowError:
        raise BadInput(f"{name}: {value.isoformat()} is out of range") from None


def parse_timestamp(name: str, text: str) -> datetime:
    """An ISO 8601 date or date-time from a query string, in UTC."""
    raw = text.strip().upper()  # RFC 3339 allows a lower-case 't' and 'z'
    # An unencoded '+' in a query string arrives as a space: '...T00:00:00 00:00'.
    if len(raw) > 6 and raw[-6] == " " and raw[-3] == ":":
        raw = raw[:-6] + "+" + raw[-5:]
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise BadInput(
            f"{name}: {text[:60]!r} is not an ISO 8601 date or date-time "
            "(e.g. 2024-05-01 or 2024-05-01T12:00:00Z)"
        ) from None
    result = utc(name, parsed)
    assert result is not None
    return result


def record_filters(
    *,
    source: Iterable[str] | None,
    record_id: Iterable[str] | None,
    asset: Iterable[str] | None,
    symbol: Iterable[str] | None,
    since: datetime | None,
    until: datetime | None,
    names: tuple[str, str, str, str, str, str],
) -> RecordFilters:
    """Checked filters; ``names`` are the six argument names as the client spelled them."""
    since_utc = utc(names[4], since)
    until_utc = utc(names[5], until)
    chosen_sources = sources(names[0], source)
    record_ids = plain_values(names[1], record_id)
    if record_ids and not chosen_sources:
        # Every stored record has a known source; naming them all lets the primary key
        # (source, record_id, timestamp) serve a recordId filter instead of a time scan.
        chosen_sources = KNOWN_SOURCES
    return RecordFilters(
        sources=chosen_sources,
        record_ids=record_ids,
        asset_ids=plain_values(names[2], asset),
        symbols=symbols(names[3], symbol),
        since=since_utc,
        until=until_utc,
    )


def page_size(name: str, value: int | None, *, default: int, maximum: int) -> int:
    """The page size asked for, or ``default``; refused below 1 or above ``maximum``."""
    if value is None:
        return default
    if value < 1:
        raise BadInput(f"{name} must be at least 1, got {value}")
    if value > maximum:
        raise BadInput(f"{name} must be at most {maximum} (MAX_PAGE_SIZE), got {value}")
    return value


RECORD_ARGUMENTS = ("source", "recordId", "asset", "symbol", "since", "until")
"""The GraphQL names of the filter arguments of ``records``, for error messages."""


@dataclass(frozen=True, slots=True)
class RecordsRequest:
    """The checked arguments of GraphQL ``records``: which page of records to read."""

    filters: RecordFilters
    after: Keyset | None
    limit: int
    order: Order


def records_request(
    *,
    source: Iterable[str] | None,
    record_id: Iterable[str] | None,
    asset: Iterable[str] | None,
    symbol: Iterable[str] | None,
    since: datetime | None,
    until: datetime | None,
    first: int | None,
    after: str | None,
    order: enum.Enum | Order | None,
    default_size: int,
    max_size: int,
) -> RecordsRequest:
    """The arguments of ``records`` as the resolver and the compiled path both read them:
    by the resolver's parameter names (``gql.compiled.seam.python_arguments``); ``order``
    as the ``SortOrder`` member or its value.

    Checked in this order: page size, filters, cursor (so the first problem is reported).
    """
    limit = page_size("first", first, default=default_size, maximum=max_size)
    wanted = record_filters(
        source=source,
        record_id=record_id,
        asset=asset,
        symbol=symbol,
        since=since,
        until=until,
        names=RECORD_ARGUMENTS,
    )
    direction: Order = (order.value if isinstance(order, enum.Enum) else order) or "desc"
    return RecordsRequest(
        filters=wanted,
        after=decode_cursor(after, direction) if after else None,
        limit=limit,
        order=direction,
    )


@dataclass(frozen=True, slots=True)
class PricesRequest:
    """The checked arguments of GraphQL ``latestPrices``: whose newest prices to read."""

    asset_ids: tuple[str, ...]
    symbols: tuple[str, ...]


def prices_request(*, asset: Iterable[str] | None, symbol: Iterable[str] | None) -> PricesRequest:
    """Check ``latestPrices``'s arguments (the resolver and the compiled path share this)."""
    return PricesRequest(plain_values("asset", asset), symbols("symbol", symbol))
