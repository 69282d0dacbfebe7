"""A corpus of hostile CSV files for both layouts, generated in code, with what each must give.

Every case is built for the ``csv`` and the ``csv2`` layout from the same rows: a row is
(symbol, name, price, timestamp) and the layout places them in its own columns (``csv2``
fills SNo, High, Low, Open, Volume and Marketcap around them). ``expected`` states the exact
outcome: the source status, the rows read and inserted, every reject as (line, a fragment of
the reason) in file order, and for a failed source fragments of its error message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kasparro.etl.csv_layouts import CSV2_LAYOUT, CSV_LAYOUT, Layout


@dataclass(frozen=True)
class Shape:
    """How one layout writes a header and a row."""

    source: str
    layout: Layout
    header: tuple[str, ...]
    place: Callable[[int, str, str, str, str], list[str]]
    stamp_format: str

    def stamp(self, day: int) -> str:
        return (datetime(2021, 1, 1, 23, 59, 59, tzinfo=UTC) + timedelta(days=day)).strftime(
            self.stamp_format
        )

    @property
    def price_column(self) -> int:
        return 2 if self.source == "csv" else 7


CSV = Shape(
    "csv",
    CSV_LAYOUT,
    ("symbol", "name", "price_usd", "market_cap", "volume_24h", "timestamp"),
    lambda sno, symbol, name, price, stamp: [symbol, name, price, "1000", "10", stamp],
    "%Y-%m-%dT%H:%M:%SZ",
)
CSV2 = Shape(
    "csv2",
    CSV2_LAYOUT,
    ("SNo", "Name", "Symbol", "Date", "High", "Low", "Open", "Close", "Volume", "Marketcap"),
    lambda sno, symbol, name, price, stamp: [
        str(sno),
        name,
        symbol,
        stamp,
        "2",
        "1",
        "1.5",
        price,
        "10",
        "1000",
    ],
    "%Y-%m-%d %H:%M:%S",
)
SHAPES = (CSV, CSV2)


@dataclass(frozen=True)
class Expected:
    status: str = "success"
    read: int = 0
    inserted: int = 0
    rejects: tuple[tuple[int, str], ...] = ()
    error: tuple[str, ...] = ()
    unchanged: int = 0
    updated: int = 0


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes
    expected: Expected
    stored: dict[str, str] = field(default_factory=dict)
    """record_id → the name it must be stored with (exact text round trips)."""


class Writer:
    """Builds one file's text for one shape: good rows get successive days."""

    def __init__(self, shape: Shape, delimiter: str = ",", newline: str = "\n") -> None:
        self.shape, self.delimiter, self.newline = shape, delimiter, newline
        self.lines: list[str] = []
        self._day = 0

    def header(self, cells: Sequence[str] | None = None) -> Writer:
        self.lines.append(self.delimiter.join(cells or self.shape.header))
        return self

    def row(
        self,
        symbol: str = "BTC",
        name: str = "Bitcoin",
        price: str | None = None,
        stamp: str | None = None,
    ) -> Writer:
        day = self._day
        self._day += 1
        cells = self.shape.place(
            day + 1,
            symbol,
            name,
            f"{30000 + day}.5" if price is None else price,
            self.shape.stamp(day) if stamp is None else stamp,
        )
        self.lines.append(self.delimiter.join(cells))
        return self

    def good(self, count: int, symbol: str = "BTC", name: str = "Bitcoin") -> Writer:
        for _ in range(count):
            self.row(symbol, name)
        return self

    def raw(self, line: str) -> Writer:
        self.lines.append(line)
        return self

    def text(self) -> str:
        return "".join(line + self.newline for line in self.lines)

    def utf8(self) -> bytes:
        return self.text().encode("utf-8")


def _drift(shape: Shape, found: str) -> tuple[str, ...]:
    expected = f"expected {shape.layout.describe()}"
    return ("CSV header lacks required column", expected, f"found {found}")


def _header_cases(shape: Shape) -> list[Case]:
    header = list(shape.header)
    price = shape.price_column
    missing = header[:price] + header[price + 1 :]
    renamed = [*header[:price], "cost", *header[price + 1 :]]
    missing_rows = Writer(shape).header(missing)
    for day in range(3):
        cells = shape.place(day + 1, "BTC", "Bitcoin", "1", shape.stamp(day))
        missing_rows.raw(",".join(cells[:price] + cells[price + 1 :]))
    extra = Writer(shape).header(["exchange", *header, "note"])
    for day in range(3):
        cells = shape.place(day + 1, "BTC", "Bitcoin", f"{day + 1}", shape.stamp(day))
        extra.raw(",".join(["binance", *cells, "n/a"]))
    reordered = Writer(shape).header(list(reversed(header)))
    for day in range(3):
        cells = shape.place(day + 1, "ETH", "Ethereum", f"{day + 1}", shape.stamp(day))
        reordered.raw(",".join(reversed(cells)))
    upper = Writer(shape).header([cell.upper() for cell in header]).good(2)
    return [
        Case(
            "semicolon-delimiter",
            Writer(shape, ";").header().good(3).utf8(),
            Expected("failed", error=_drift(shape, ";".join(header))),
        ),
        Case(
            "tab-delimiter",
            Writer(shape, "\t").header().good(3).utf8(),
            Expected("failed", error=_drift(shape, "\t".join(header).strip())),
        ),
        Case(
            "missing-price-column",
            missing_rows.utf8(),
            Expected("failed", error=(*_drift(shape, ", ".join(missing)), "lacks required")),
        ),
        Case(
            "renamed-price-column",
            Writer(shape).header(renamed).good(3).utf8(),
            Expected("failed", error=_drift(shape, ", ".join(renamed))),
        ),
        Case("extra-columns", extra.utf8(), Expected(read=3, inserted=3)),
        Case("reordered-columns", reordered.utf8(), Expected(read=3, inserted=3)),
        Case("upper-case-header", upper.utf8(), Expected(read=2, inserted=2)),
        Case("empty-file", b"", Expected("failed", error=("is empty", "expected a header"))),
        Case(
            "blank-lines-only",
            b"\n\n\r\n",
            Expected("failed", error=("is empty", "expected a header")),
        ),
        Case("header-only", Writer(shape).header().utf8(), Expected(read=0, inserted=0)),
        Case(
            "header-only-no-newline",
            Writer(shape).header().text().rstrip("\n").encode(),
            Expected(read=0, inserted=0),
        ),
    ]


def _encoding_cases(shape: Shape) -> list[Case]:
    bom = "\ufeff" + Writer(shape).header().good(3).text()
    latin = Writer(shape).header().good(1).row("XCN", "Caf\u00e9 Coin").good(1).text()
    utf16 = Writer(shape).header().good(3).text()
    return [
        Case("utf8-bom", bom.encode("utf-8"), Expected(read=3, inserted=3)),
        Case(
            "latin1-name",
            latin.encode("latin-1"),
            Expected(read=3, inserted=2, rejects=((3, "not valid UTF-8"),)),
        ),
        Case(
            "utf16-file",
            utf16.encode("utf-16"),
            Expected("failed", error=("the header is not UTF-8 text", "UTF-16")),
        ),
        Case(
            "utf16le-without-bom",  # ASCII as UTF-16LE is valid UTF-8 with NULs between
            utf16.encode("utf-16-le"),
            Expected("failed", error=("the header is not UTF-8 text", "NUL")),
        ),
        Case(
            "crlf-line-endings",
            Writer(shape, newline="\r\n").header().good(4).utf8(),
            Expected(read=4, inserted=4),
        ),
        Case(
            "utf8-names",
            Writer(shape).header().good(1, "ZEC", "Zcash \u00e9\u00e8 \u4e2d\u6587 \u20bf").utf8(),
            Expected(read=1, inserted=1),
            stored={"ZEC": "Zcash \u00e9\u00e8 \u4e2d\u6587 \u20bf"},
        ),
    ]


def _value_cases(shape: Shape) -> list[Case]:
    prices = Writer(shape).header().good(1)
    for text in ("NaN", "inf", "-inf", "-1.5", "1e400", "abc", ""):
        prices.row(price=text)
    prices.good(1)
    dates = Writer(shape).header().good(1)
    future = (datetime.now(UTC) + timedelta(days=3)).strftime(shape.stamp_format)
    for text in ("2021-13-01", "yesterday", "", "2021-01-01T25:00:00", "2008-12-31", future):
        dates.row(stamp=text)
    dates.row(stamp="2999-01-01").good(1)
    price_reasons = ("NaN", "inf", "-inf", "-1.5", "1e400", "not a number", "is empty")
    date_reasons = (
        "not ISO-8601",
        "not ISO-8601",
        "timestamp is empty",
        "not ISO-8601",
        "before 2009-01-01",
        "in the future by more than",
        "in the future by more than",
    )
    dupes = Writer(shape).header().good(2)
    dupes.lines.extend([dupes.lines[1], dupes.lines[2], dupes.lines[1]])
    injection = "Robert'); DROP TABLE records;--"
    return [
        Case(
            "nan-inf-negative-prices",
            prices.utf8(),
            Expected(
                read=9,
                inserted=2,
                rejects=tuple((3 + i, reason) for i, reason in enumerate(price_reasons)),
            ),
        ),
        Case(
            "bad-and-future-dates",
            dates.utf8(),
            Expected(
                read=9,
                inserted=2,
                rejects=tuple((3 + i, reason) for i, reason in enumerate(date_reasons)),
            ),
        ),
        Case("duplicate-rows", dupes.utf8(), Expected(read=5, inserted=2, unchanged=3)),
        Case(
            "sql-injection-text",
            Writer(shape)
            .header()
            .good(1, "DROP", injection)
            .good(1, "X'--", "1; DELETE FROM rejects")
            .utf8(),
            Expected(read=2, inserted=2),
            stored={"DROP": injection, "X'--": "1; DELETE FROM rejects"},
        ),
        Case(
            "long-name-and-symbol",
            Writer(shape).header().good(1).row("L", "N" * 5000).row("S" * 65, "Long").utf8(),
            Expected(
                read=3,
                inserted=1,
                rejects=((3, "name is longer than 300"), (4, "symbol is longer than 64")),
            ),
        ),
        Case(
            "empty-symbol-and-name",
            Writer(shape).header().row("", "Nameless").row("NN", "  ").good(1).utf8(),
            Expected(read=3, inserted=1, rejects=((2, "symbol is empty"), (3, "name is empty"))),
        ),
    ]


def _structure_cases(shape: Shape) -> list[Case]:
    short = ",".join(shape.place(9, "BTC", "Bitcoin", "1", shape.stamp(9))[:3])
    nul = Writer(shape).header().good(1).row("NUL", "Bit\x00coin").row(price="1\x0002").good(1)
    blank = Writer(shape).header().good(1).raw("").raw("   ").good(1)
    width = len(shape.header)
    quoted = Writer(shape).header().good(1)
    cells = shape.place(50, "QQ", '"Quoted\nCoin"', "7", shape.stamp(50))
    quoted.raw(",".join(cells))  # one record over lines 3 and 4
    bad = shape.place(51, "QB", '"Bad\nQuote"', "-7", shape.stamp(51))
    quoted.raw(",".join(bad)).good(1)  # lines 5-6, line 7 good
    garbage = Writer(shape).header().good(2).raw("-- end of export --").raw("\x1a\x1a\x1a")
    return [
        Case(
            "short-row",
            Writer(shape).header().good(1).raw(short).good(1).utf8(),
            Expected(read=3, inserted=2, rejects=((3, f"expected at least {width} fields"),)),
        ),
        Case(
            "nul-bytes",
            nul.utf8(),
            Expected(
                read=4,
                inserted=2,
                rejects=((3, "name contains a NUL character"), (4, "not a number")),
            ),
        ),
        Case(
            "blank-lines-between-rows",
            blank.utf8(),
            Expected(read=3, inserted=2, rejects=((4, "expected at least"),)),
        ),
        Case(
            "quoted-newlines",
            quoted.utf8(),
            Expected(
                read=4,
                inserted=2,
                rejects=(
                    (3, "name contains a control character (U+000A)"),
                    (5, "name contains a control character (U+000A)"),
                ),
            ),
        ),
        Case(
            "trailing-garbage",
            garbage.utf8(),
            Expected(
                read=4,
                inserted=2,
                rejects=((4, "expected at least"), (5, "expected at least")),
            ),
        ),
        Case(
            "unbalanced-quote",  # open at the end of the file: only its own line is lost
            Writer(shape).header().good(1).row(name='"Unclosed').good(2).utf8(),
            Expected(read=4, inserted=3, rejects=((3, "unterminated quote"),)),
        ),
        Case(
            "no-final-newline",
            Writer(shape).header().good(3).text().rstrip("\n").encode(),
            Expected(read=3, inserted=3),
        ),
    ]


def _huge_cases(shape: Shape) -> list[Case]:
    ten_mb = 10 * 1024 * 1024
    field_line = Writer(shape).header().good(1).row("BIG", "B" * ten_mb).good(1)
    blob_line = Writer(shape).header().good(1).raw("x" * ten_mb).good(1)
    quoted_line = Writer(shape).header().good(1).row("BIGQ", '"' + "q," * (ten_mb // 2) + '"')
    return [
        Case(
            "10mb-field",
            field_line.good(1).utf8(),
            Expected(read=4, inserted=3, rejects=((3, "row is longer than 1,048,576 bytes"),)),
        ),
        Case(
            "10mb-line-without-delimiters",
            blob_line.utf8(),
            Expected(read=3, inserted=2, rejects=((3, "row is longer than 1,048,576 bytes"),)),
        ),
        Case(
            "10mb-quoted-field",
            quoted_line.good(1).utf8(),
            Expected(read=3, inserted=2, rejects=((3, "row is longer than 1,048,576 bytes"),)),
        ),
    ]


def corpus() -> list[tuple[Shape, Case]]:
    """Every case for every layout."""
    cases: list[tuple[Shape, Case]] = []
    for shape in SHAPES:
        for build in (_header_cases, _encoding_cases, _value_cases, _structure_cases, _huge_cases):
            cases.extend((shape, case) for case in build(shape))
    return cases
