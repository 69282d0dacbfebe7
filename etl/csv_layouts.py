"""The two CSV layouts: header matching (case-insensitive, with aliases) and row validation.

``data.csv`` (source ``csv``): ``symbol,name,price_usd,market_cap,volume_24h,timestamp``.
``data2.csv`` (source ``csv2``): ``SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap``
(value is ``Close``). A header that lacks a required column raises ``SchemaDriftError``
listing what was expected and what was found.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kasparro.etl.errors import RecordRejected, SchemaDriftError
from kasparro.etl.model import Row
from kasparro.etl.validate import TimestampParser, csv_number, name_text, symbol_text

RowValidator = Callable[[Sequence[str]], Row]


@dataclass(frozen=True, slots=True)
class Layout:
    """Canonical column names, which are required, and the aliases each answers to."""

    columns: tuple[str, ...]
    required: tuple[str, ...]
    aliases: dict[str, tuple[str, ...]]

    def describe(self) -> str:
        return ", ".join(self.columns)


CSV_LAYOUT = Layout(
    columns=("symbol", "name", "price_usd", "market_cap", "volume_24h", "timestamp"),
    required=("symbol", "name", "price_usd", "timestamp"),
    aliases={
        "symbol": ("ticker",),
        "name": ("coin", "coin_name"),
        "price_usd": ("price", "value", "usd_price", "price_in_usd", "close"),
        "market_cap": ("marketcap", "mcap", "market_cap_usd"),
        "volume_24h": ("volume", "volume24h", "total_volume", "volume_usd"),
        "timestamp": ("time", "date", "datetime", "last_updated"),
    },
)

CSV2_LAYOUT = Layout(
    columns=(
        "sno",
        "name",
        "symbol",
        "date",
        "high",
        "low",
        "open",
        "close",
        "volume",
        "marketcap",
    ),
    required=("name", "symbol", "date", "close"),
    aliases={
        "name": ("coin", "coin_name"),
        "symbol": ("ticker",),
        "date": ("timestamp", "time", "datetime"),
        "close": ("close_price", "price_close"),
        "volume": ("volume_24h", "total_volume"),
        "marketcap": ("market_cap", "mcap"),
        "sno": ("s_no", "serial"),
    },
)

_SEPARATORS = re.compile(r"[\s\-./]+")


def normalize_header(cell: str) -> str:
    return _SEPARATORS.sub("_", cell.strip().lstrip("\ufeff").strip().lower()).strip("_")


def match_header(source: str, layout: Layout, header: Sequence[str]) -> dict[str, int]:
    """Map each canonical column present in ``header`` to its index; check required ones."""
    lookup = {name: name for name in layout.columns}
    for canonical, names in layout.aliases.items():
        for alias in names:
            lookup.setdefault(alias, canonical)
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        match = lookup.get(normalize_header(cell))
        if match is not None and match not in found:
            found[match] = index
    missing = [name for name in layout.required if name not in found]
    if missing:
        raise SchemaDriftError(
            source,
            f"CSV header lacks required column(s) {', '.join(missing)}; "
            f"expected {layout.describe()} (required: {', '.join(layout.required)}); "
            f"found {', '.join(cell.strip() for cell in header) or 'nothing'}",
        )
    return found


def row_validator(
    columns: dict[str, int],
    names: tuple[str, str, str, str],
    parse_time: TimestampParser,
) -> RowValidator:
    """A fast validator for one header mapping; ``record_id`` is the upper-case symbol.

    ``names`` are the layout's (price, timestamp, market cap, volume) columns. Rows whose
    symbol, name and timestamp were seen before and whose numbers are plain take a fast path
    of dictionary lookups and ``float``; anything else goes through the careful path, which
    fills those caches or raises ``RecordRejected`` with the precise reason.
    """
    price, stamp, market_cap, volume = names
    i_symbol, i_name = columns["symbol"], columns["name"]
    i_price, i_stamp = columns[price], columns[stamp]
    i_cap, i_volume = columns.get(market_cap), columns.get(volume)
    width = 1 + max(columns.values())
    coins: dict[tuple[str, str], tuple[str, str]] = {}
    stamps = parse_time.known
    new_row = tuple.__new__  # Row(...) without its Python-level __new__: once per row

    def careful(fields: Sequence[str]) -> Row:
        if len(fields) < width:
            raise RecordRejected(
                f"expected at least {width} fields, got {len(fields)}",
                f"expected at least {width} fields",
            )
        key = (fields[i_symbol], fields[i_name])
        known = coins.get(key)
        if known is None:
            known = (symbol_text(key[0]), name_text(key[1]))
            if len(coins) >= 100_000:
                coins.clear()
            coins[key] = known
        value = csv_number(fields[i_price].strip(), price, required=True)
        assert value is not None
        return Row(
            known[0],
            parse_time(fields[i_stamp]),
            known[0],
            known[1],
            value,
            None
            if i_cap is None
            else csv_number(fields[i_cap].strip(), market_cap, required=False),
            None
            if i_volume is None
            else csv_number(fields[i_volume].strip(), volume, required=False),
        )

    def validate(fields: Sequence[str]) -> Row:
        try:
            symbol, name = coins[(fields[i_symbol], fields[i_name])]
            moment = stamps[fields[i_stamp]]
            value = float(fields[i_price])
            cap = float(text) if i_cap is not None and (text := fields[i_cap]) else None
            vol = float(text) if i_volume is not None and (text := fields[i_volume]) else None
        except (KeyError, IndexError, ValueError):
            return careful(fields)
        if (
            0.0 <= value < math.inf
            and (cap is None or 0.0 <= cap < math.inf)
            and (vol is None or 0.0 <= vol < math.inf)
        ):
            return new_row(Row, (symbol, moment, symbol, name, value, cap, vol))
        return careful(fields)

    return validate


def validator_for(
    source: str, layout: Layout, header: Sequence[str], parse_time: TimestampParser
) -> RowValidator:
    """Match ``header`` against ``layout`` and build the row validator for it."""
    columns = match_header(source, layout, header)
    if layout is CSV_LAYOUT:
        names = ("price_usd", "timestamp", "market_cap", "volume_24h")
    else:
        names = ("close", "date", "marketcap", "volume")
    return row_validator(columns, names, parse_time)
