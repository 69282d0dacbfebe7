"""Turn client input (GraphQL arguments or REST query parameters) into typed query input.

Both interfaces call these functions, so they accept and refuse exactly the same things:
source names are lower-cased and checked against ``etl.config.KNOWN_SOURCES``, symbols
upper-cased (they are stored upper-case), timestamps without an offset read as UTC, and a
page size must lie between 1 (0 for ``records``' ``first``/``last``) and MAX_PAGE_SIZE.
Every refusal is a ``BadInput``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from kasparro.db import queries
from kasparro.db.queries import Keyset, Order, RecordFilters, RecordPage
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


def page_size(
    name: str,
    value: int | None,
    *,
    default: int,
    maximum: int,
    minimum: int = 1,
    setting: str | None = "MAX_PAGE_SIZE",
) -> int:
    """The page size asked for, or ``default``; refused below ``minimum`` or above
    ``maximum`` (named after the ``setting`` it comes from, if any)."""
    if value is None:
        return default
    if value < minimum:
        raise BadInput(f"{name} must be at least {minimum}, got {value}")
    if value > maximum:
        source = f" ({setting})" if setting else ""
        raise BadInput(f"{name} must be at most {maximum}{source}, got {value}")
    return value


RECORD_ARGUMENTS = ("source", "recordId", "asset", "symbol", "since", "until")
"""The GraphQL names of the filter arguments of ``records``, for error messages."""


@dataclass(frozen=True, slots=True)
class RecordsRequest:
    """The checked arguments of GraphQL ``records``: which page of records to read.

    The rows after ``after`` and before ``before`` in ``order``; of those the first
    ``limit``, or with ``from_end`` (Relay's ``last``) the last ``limit``.
    """

    filters: RecordFilters
    after: Keyset | None
    limit: int
    order: Order
    before: Keyset | None = None
    from_end: bool = False

    def read(self, conn: Connection, *, look_beyond: bool) -> RecordPage:
        """The page asked for (the resolver and the compiled path both read it here); with
        ``look_beyond`` it also knows ``beyond``, else that flag of the page is False."""
        return queries.records(
            conn,
            self.filters,
            self.after,
            self.limit,
            self.order,
            before=self.before,
            from_end=self.from_end,
            look_beyond=look_beyond,
        )

    def beyond(self, conn: Connection) -> bool:
        """Whether rows lie on the far side of the cursor the page starts from: what
        ``hasPreviousPage`` says paging forward, ``hasNextPage`` paging backward (one
        indexed probe, made only when that flag is asked for)."""
        return queries.rows_beyond(
            conn, self.filters, self.after, self.before, self.order, from_end=self.from_end
        )

    @property
    def start(self) -> Keyset | None:
        """The cursor the page starts from: ``before`` paging backward, else ``after``."""
        return self.before if self.from_end else self.after

    @property
    def far_flag(self) -> str:
        """The ``PageInfo`` field that ``beyond`` answers."""
        return "hasNextPage" if self.from_end else "hasPreviousPage"


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
    last: int | None = None,
    before: str | None = None,
    order: enum.Enum | Order | None,
    default_size: int,
    max_size: int,
) -> RecordsRequest:
    """The arguments of ``records`` as the resolver and the compiled path both read them:
    by the resolver's parameter names (``gql.compiled.seam.python_arguments``); ``order``
    as the ``SortOrder`` member or its value.

    Relay's rules: ``first`` (or, when neither is given, DEFAULT_PAGE_SIZE) rows from the
    start of the window between the cursors, or ``last`` rows from its end; 0 is allowed
    (the page then only tells whether rows exist). Both ``first`` and ``last`` is refused:
    the specification calls it confusing, and no client needs it.

    Checked in this order: page size, filters, cursors (so the first problem is reported).
    """
    if first is not None and last is not None:
        raise BadInput(
            "pass either first (page forward from after) or last (page backward from "
            "before), not both"
        )
    from_end = last is not None
    limit = page_size(
        "last" if from_end else "first",
        last if from_end else first,
        default=default_size,
        maximum=max_size,
        minimum=0,
    )
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
        before=decode_cursor(before, direction) if before else None,
        from_end=from_end,
    )


@dataclass(frozen=True, slots=True)
class PricesRequest:
    """The checked arguments of GraphQL ``latestPrices``: whose newest prices to read."""

    asset_ids: tuple[str, ...]
    symbols: tuple[str, ...]


def prices_request(*, asset: Iterable[str] | None, symbol: Iterable[str] | None) -> PricesRequest:
    """Check ``latestPrices``'s arguments (the resolver and the compiled path share this)."""
    return PricesRequest(plain_values("asset", asset), symbols("symbol", symbol))
