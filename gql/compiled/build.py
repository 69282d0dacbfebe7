"""Build the ``data`` of a compiled query from the rows of one read.

A ``records`` plan reads a page (``db.queries.records``, and the count when selected), a
``latestPrices`` plan the newest prices (through the app's ``db.latest_cache.PricesCache``):
what the resolvers read, with the arguments they would pass (``gql.filters``). The JSON text
of an unfiltered ``latestPrices`` answer is kept with the cached rows it was built from, one
per selection shape, so while the store does not change it is built once.

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
from json.encoder import encode_basestring_ascii
from math import isfinite
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

from sqlalchemy import Connection

from kasparro.db import queries
from kasparro.db.latest_cache import PricesCache
from kasparro.db.queries import Keyset, LatestPrice, Order, RecordPage
from kasparro.db.record import RecordRow
from kasparro.gql.compiled.plan import (
    COLUMNS,
    Const,
    Cursor,
    EndCursor,
    HasNext,
    HasPrevious,
    Identity,
    Leaf,
    One,
    Part,
    Plan,
    Rows,
    Shape,
    StartCursor,
    TotalCount,
)
from kasparro.gql.cursors import encode_cursor
from kasparro.gql.filters import PricesRequest, RecordsRequest
from kasparro.gql.identity import price_id, record_ids

INT_RANGE = range(-(2**31), 2**31)
"""GraphQL's Int: what ``totalCount`` may hold (graphql-core refuses anything else)."""

_NONE = type(None)
_TZINFO = attrgetter("tzinfo")
_TYPES: dict[str, set[type]] = {"text": {str}, "float": {float}, "timestamp": {datetime}}
"""The Python types each leaf kind serializes unchanged (and null, where nullable)."""
_KEY = (COLUMNS.index("timestamp"), COLUMNS.index("source"), COLUMNS.index("record_id"))


class Mismatch(Exception):
    """A value normal execution would not serialize as this module does."""


class EncodedData(dict[str, Any]):
    """The response's ``data`` already encoded as JSON text (``text``), exactly as
    Strawberry's ``encode_json`` would encode the objects (``gql.view`` writes it
    out as is). The mapping itself is empty: it is a dict only because that is what an
    execution result's ``data`` is typed as."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


_P = TypeVar("_P", bound="_Page")


def read_and_build(
    conn: Connection, plan: Plan, request: RecordsRequest | PricesRequest, prices: PricesCache
) -> dict[str, Any]:
    """Read the rows (and the count, if selected) and build the response's ``data``."""
    if isinstance(request, PricesRequest):
        rows = prices.read(conn, request.asset_ids, request.symbols).rows
        return _prices_page(_Page, rows).one(plan.root)
    return _read(conn, plan, request, _Page).one(plan.root)


def read_and_encode(
    conn: Connection, plan: Plan, request: RecordsRequest | PricesRequest, prices: PricesCache
) -> EncodedData:
    """``read_and_build``, but the ``data`` comes back as its JSON text: no objects per
    row."""
    if isinstance(request, PricesRequest):
        answer = prices.read(conn, request.asset_ids, request.symbols)
        return EncodedData(
            answer.built(plan.root, lambda rows: _prices_page(_EncodedPage, rows).one(plan.root))
        )
    return EncodedData(_read(conn, plan, request, _EncodedPage).one(plan.root))


def _prices_page(page_type: type[_P], rows: list[LatestPrice]) -> _P:
    """The latest prices as a page: no other pages, cursors or count."""
    return page_type(rows, RecordPage((), has_next=False), "desc", None)


def _read(conn: Connection, plan: Plan, request: RecordsRequest, page_type: type[_P]) -> _P:
    page = request.read(conn, look_beyond=request.far_flag in plan.page_info)
    total = queries.count_records(conn, request.filters) if plan.counts else None
    if total is not None and (type(total) is not int or total not in INT_RANGE):
        raise Mismatch("totalCount")
    return page_type(page.rows, page, request.order, total)


class _Page:
    """The rows read and the columns computed from them so far."""

    def __init__(
        self,
        rows: Sequence[RecordRow] | Sequence[LatestPrice],
        page: RecordPage,
        order: Order,
        total: int | None,
    ) -> None:
        self._rows = rows
        self._page = page
        self._order = order
        self._total = total
        self._columns: dict[Leaf | Cursor | Identity, list[Any]] = {}

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
                return self._page.has_next
            case HasPrevious():
                return self._page.has_previous
            case StartCursor():
                return self._cursor_at(0)
            case EndCursor():
                return self._cursor_at(-1)
            case TotalCount():
                return self._total
        raise TypeError(f"{part!r} is not a value of the connection")

    def _column(self, part: Part) -> list[Any]:
        match part:
            case Const(value):
                return [value] * len(self._rows)
            case Rows(shape):
                return self.rows(shape)
            case Leaf() | Cursor() | Identity():
                column = self._columns.get(part)
                if column is None:
                    column = self._columns[part] = self._computed(part)
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

    def _cursor_at(self, index: int) -> str | None:
        """The cursor of the row at ``index`` (as text, also on an encoded page)."""
        return _Page._column(self, Cursor())[index] if self._rows else None

    def _computed(self, part: Leaf | Cursor | Identity) -> list[Any]:
        match part:
            case Leaf():
                return self._leaf(part)
            case Cursor():
                return self._cursors()
            case Identity("Record"):
                return self._record_ids()
        prices: Sequence[Any] = self._rows  # LatestPrice rows
        return [price_id(price.asset_id, price.source) for price in prices]

    def _record_ids(self) -> list[str]:
        timestamp, source, key = _KEY
        rows: Sequence[Any] = self._rows  # records rows
        return record_ids((row[source], row[key], row[timestamp]) for row in rows)

    def _cursors(self) -> list[str]:
        timestamp, source, record_id = _KEY
        order = self._order
        rows: Sequence[Any] = self._rows  # records rows (only a records page has cursors)
        return [
            encode_cursor(Keyset(row[timestamp], row[source], row[record_id]), order)
            for row in rows
        ]


class _EncodedPage(_Page):
    """The same values, each encoded as ``json.dumps(…, separators=(",", ":"))`` would:
    strings by ``encode_basestring_ascii`` (once per distinct value), floats by ``repr``,
    then each object as one ``%`` template over its columns."""

    def one(self, shape: Shape) -> str:  # type: ignore[override]
        values = [self._value(part) for part in shape.parts]
        return "{" + ",".join(map(_member, shape.keys, values)) + "}"

    def rows(self, shape: Shape) -> list[str]:  # type: ignore[override]
        columns = [self._column(part) for part in shape.parts]
        template = "{" + ",".join(_member(key, "%s") for key in shape.keys) + "}"
        return list(map(template.__mod__, zip(*columns, strict=True)))

    def _value(self, part: Part) -> str:
        match part:
            case Rows(shape):
                return "[" + ",".join(self.rows(shape)) + "]"
            case One(shape):
                return self.one(shape)
        value = super()._value(part)
        if value is None:
            return "null"
        if isinstance(value, str):
            return encode_basestring_ascii(value)
        if type(value) is bool:
            return "true" if value else "false"
        assert type(value) is int  # totalCount
        return int.__repr__(value)

    def _column(self, part: Part) -> list[Any]:
        match part:
            case Const(value):
                return [encode_basestring_ascii(value)] * len(self._rows)
            case Rows(shape):
                return self.rows(shape)
        values = super()._column(part)
        if isinstance(part, Leaf) and part.kind == "float":
            if None in values:
                return ["null" if value is None else float.__repr__(value) for value in values]
            return list(map(float.__repr__, values))
        return _json_text(values)


def _member(key: str, value: str) -> str:
    return encode_basestring_ascii(key) + ":" + value


def _json_text(values: list[str | None]) -> list[str]:
    """Strings (or nulls) as JSON, each distinct value encoded once."""
    text = {
        value: "null" if value is None else encode_basestring_ascii(value) for value in set(values)
    }
    return list(map(text.__getitem__, values))
