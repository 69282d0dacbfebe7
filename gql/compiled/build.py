"""Build the ``data`` of a compiled query from the rows of one read.

A ``records`` plan reads a page (``db.queries.records``, and the count when selected), a
``latestPrices`` plan the newest prices (``db.queries.latest_prices``): the functions the
resolvers call, with the arguments they would pass (``gql.filters``).

Runs in the worker thread (``gql.dbcall.run_db``), like the REST shim's page building.
The page is read column by column: each leaf becomes one list of serialized values
(a timestamp's ``isoformat()``, as Strawberry's DateTime serializes it; text and floats as
they are), then every object of a ``Rows`` shape is ``dict(zip(keys, values))`` over the
zipped columns, so no Python code runs per field and row. The result is handed to
Strawberry, which dumps it with its own JSON encoder, like any execution result.

Values normal execution would refuse (a null in a non-null field, a float that is not
finite or not a float, a count beyond GraphQL's Int) raise ``Mismatch``: the caller then
executes the operation normally, which reports the error its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from math import isfinite
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Connection

from db import queries
from db.queries import DbRow, Keyset, Order
from gql.compiled.plan import (
    COLUMNS,
    Const,
    Cursor,
    EndCursor,
    HasNext,
    Leaf,
    One,
    Part,
    Plan,
    Rows,
    Shape,
    TotalCount,
)
from gql.cursors import encode_cursor
from gql.filters import PricesRequest, RecordsRequest

INT_RANGE = range(-(2**31), 2**31)
"""GraphQL's Int: what ``totalCount`` may hold (graphql-core refuses anything else)."""

_NONE = type(None)
_TZINFO = attrgetter("tzinfo")
_TYPES: dict[str, set[type]] = {"text": {str}, "float": {float}, "timestamp": {datetime}}
"""The Python types each leaf kind serializes unchanged (and null, where nullable)."""
_KEY = (COLUMNS.index("timestamp"), COLUMNS.index("source"), COLUMNS.index("record_id"))


class Mismatch(Exception):
    """A value normal execution would not serialize as this module does."""


def fetch(conn: Connection, plan: Plan, request: RecordsRequest | PricesRequest) -> dict[str, Any]:
    """Read the rows (and the count, if selected) and build the response's ``data``."""
    if isinstance(request, PricesRequest):
        prices = queries.latest_prices(conn, request.asset_ids, request.symbols)
        return _Page(prices, None, "desc", None).one(plan.root)
    page = queries.records(conn, request.filters, request.after, request.limit, request.order)
    total = queries.count_records(conn, request.filters) if plan.counts else None
    if total is not None and (type(total) is not int or total not in INT_RANGE):
        raise Mismatch("totalCount")
    return _Page(page.rows, page.next_key, request.order, total).one(plan.root)


class _Page:
    """The rows read and the columns computed from them so far."""

    def __init__(
        self, rows: Sequence[DbRow], next_key: Keyset | None, order: Order, total: int | None
    ) -> None:
        self._rows = rows
        self._next = next_key
        self._order = order
        self._total = total
        self._columns: dict[Leaf | Cursor, list[Any]] = {}

    def one(self, shape: Shape) -> dict[str, Any]:
        return dict(zip(shape.keys, [self._value(part) for part in shape.parts], strict=True))

    def rows(self, shape: Shape) -> list[dict[str, Any]]:
        columns = [self._column(part) for part in shape.parts]
        return list(map(dict, map(zip, repeat(shape.keys), zip(*columns, strict=True))))

    def _value(self, part: Part) -> Any:
        match part:
            case Const(value):
                return value
            case One(shape):
                return self.one(shape)
            case Rows(shape):
                return self.rows(shape)
            case HasNext():
                return self._next is not None
            case EndCursor():
                return encode_cursor(self._next, self._order) if self._next is not None else None
            case TotalCount():
                return self._total
        raise TypeError(f"{part!r} is not a value of the connection")

    def _column(self, part: Part) -> list[Any]:
        match part:
            case Const(value):
                return [value] * len(self._rows)
            case Rows(shape):
                return self.rows(shape)
            case Leaf() | Cursor():
                column = self._columns.get(part)
                if column is None:
                    column = self._columns[part] = (
                        self._leaf(part) if isinstance(part, Leaf) else self._cursors()
                    )
                return column
        raise TypeError(f"{part!r} is not a value of a row")

    def _leaf(self, leaf: Leaf) -> list[Any]:
        if not self._rows:
            return []
        values = list(map(itemgetter(self._rows[0]._fields.index(leaf.column)), self._rows))
        allowed = _TYPES[leaf.kind] | ({_NONE} if leaf.nullable else set())
        if not set(map(type, values)) <= allowed:
            raise Mismatch(f"column {leaf.column}: {set(map(type, values))}")
        if leaf.kind == "timestamp":
            if leaf.nullable:
                return [None if value is None else value.isoformat() for value in values]
            if len(set(map(_TZINFO, values))) != 1:
                return list(map(datetime.isoformat, values))
            # Rows share few timestamps (one fetch of a source, one day of a file): each is
            # formatted once. Equal datetimes in one time zone format alike.
            text = {value: value.isoformat() for value in set(values)}
            return list(map(text.__getitem__, values))
        # A sum of finite floats is finite unless it overflows (then: normal execution).
        if leaf.kind == "float" and not isfinite(sum(filter(None, values))):
            raise Mismatch(f"column {leaf.column}: not finite")
        return values

    def _cursors(self) -> list[str]:
        timestamp, source, record_id = _KEY
        order = self._order
        return [
            encode_cursor(Keyset(row[timestamp], row[source], row[record_id]), order)
            for row in self._rows
        ]
