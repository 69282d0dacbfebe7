"""One poisoned item among good ones: the item is a reject with its reason, the rest loads.

Each case is the recorded payload (120 CoinGecko items, 2,500 CoinPaprika tickers) or a
shipped CSV with one bad item or row put in the middle: a number too large for a float, a
timestamp whose UTC conversion leaves the calendar, a lone surrogate, a symbol that grows
past its column when upper-cased, an integer past Python's digit limit, an item nested past
the JSON parser's depth, invisible format characters (issue 13, items 11 and 17), symbols
that look like others (full-width, combining overlays and accents, a no-break space inside).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from kasparro.db.tables import records
from kasparro.etl.api_sources import coingecko_item, validated_chunks
from kasparro.etl.http import Response
from kasparro.etl.model import Row
from kasparro.etl.pipeline import run_etl
from kasparro.etl.reject_log import RejectLog
from kasparro.etl.validate import NAME_LIMIT, SYMBOL_LIMIT, TimestampParser
from tests.conftest import REPO
from tests.etl.conftest import FAST, by_source, make_config, query, write
from tests.support.upstream import (
    GECKO,
    MARKETS,
    PAPRIKA,
    TICKERS,
    FakeUpstream,
    json_reply,
    sample,
)

HUGE_INT = "9" * 401
"""A JSON integer that ``float()`` cannot hold (OverflowError)."""
HUGER_INT = "9" * 5000
"""Past Python's 4,300-digit limit of int parsing: ``json.loads`` refuses the whole page."""


FULL_WIDTH = "symbol contains a compatibility character (NFKC replaces it) (U+FF22) at character 1"
OVERLAY = "symbol contains a combining mark (U+0336) at character 2"
ACCENT = "symbol contains a combining mark (U+0301) at character 2"
NO_BREAK = "symbol contains a space other than U+0020 (U+00A0) at character 2"


def deeply_nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_poison(items: list[dict[str, Any]], position: int, bad: dict[str, Any]) -> str:
    """The payload as JSON text with ``bad`` (JSON text values in ``raw`` fields) inserted."""
    texts = [json.dumps(item) for item in items]
    texts.insert(position, "{" + ", ".join(f'"{k}": {v}' for k, v in bad.items()) + "}")
    return "[" + ", ".join(texts) + "]"


def gecko_item(**raw: str) -> dict[str, str]:
    """A CoinGecko item as JSON text per field; ``raw`` replaces fields."""
    item = {
        "id": '"poison-coin"',
        "symbol": '"psn"',
        "name": '"Poison"',
        "current_price": "1.5",
        "market_cap": "100",
        "total_volume": "10",
        "last_updated": '"2025-05-20T05:13:30.238Z"',
    }
    item.update(raw)
    return {key: value for key, value in item.items() if value != ""}


GECKO_POISONS = [
    ("401-digit-price", gecko_item(current_price=HUGE_INT), "current_price is too large"),
    ("5000-digit-price", gecko_item(current_price=HUGER_INT), "must be a finite number"),
    (
        "stamp-past-9999",
        gecko_item(last_updated='"9999-12-31T23:59:59-05:00"'),
        "is out of range",
    ),
    (
        "stamp-before-year-1",
        gecko_item(last_updated='"0001-01-01T00:00:00+05:00"'),
        "is out of range",
    ),
    ("lone-surrogate-id", gecko_item(id='"poison\\ud800coin"'), "id contains a lone surrogate"),
    ("ffi-symbol", gecko_item(symbol=json.dumps("\ufb03" * 30)), "symbol is longer than 64"),
    ("sharp-s-symbol", gecko_item(symbol=json.dumps("\u00df" * 40)), "symbol is longer than 64"),
    ("deep-name", gecko_item(name=deeply_nested(100_000)), "nested too deeply"),
    ("900-deep-name", gecko_item(name=deeply_nested(900)), "name is not text"),
    ("bidi-symbol", gecko_item(symbol=json.dumps("CTB\u202e")), "invisible format character"),
    ("soft-hyphen-name", gecko_item(name=json.dumps("Bit\u00adcoin")), "invisible format"),
    ("newline-name", gecko_item(name=json.dumps("Bit\ncoin")), "control character"),
    ("private-use-symbol", gecko_item(symbol=json.dumps("BTC\ue000")), "private-use character"),
    ("hangul-filler-name", gecko_item(name=json.dumps("\u3164")), "invisible character"),
    ("full-width-symbol", gecko_item(symbol=json.dumps("\uff22\uff34\uff23")), FULL_WIDTH),
    ("full-width-name", gecko_item(name=json.dumps("\uff22itcoin")), "name contains a comp"),
    ("overlay-symbol", gecko_item(symbol=json.dumps("B\u0336T\u0336C\u0336")), OVERLAY),
    ("60-accents-symbol", gecko_item(symbol=json.dumps("B" + "\u0301" * 60)), ACCENT),
    ("no-break-space-symbol", gecko_item(symbol=json.dumps("B\u00a0TC")), NO_BREAK),
    ("composing-symbol", gecko_item(symbol=json.dumps("\u1100\u1161")), "NFKC normal form"),
]


@pytest.mark.parametrize(
    ("bad", "reason"), [p[1:] for p in GECKO_POISONS], ids=[p[0] for p in GECKO_POISONS]
)
def test_one_poisoned_coingecko_item_is_rejected_and_the_120_others_load(
    engine: Engine, upstream: FakeUpstream, bad: dict[str, str], reason: str
) -> None:
    items = json.loads(sample(GECKO))
    upstream.serve(MARKETS, json_reply(with_poison(items, 60, bad)))
    summary = run_etl(engine, make_config(upstream), sources=["coingecko"], retry=FAST)
    gecko = by_source(summary)["coingecko"]
    assert (gecko.status, gecko.error) == ("success", None)
    assert (gecko.rows_read, gecko.inserted, gecko.rejected) == (121, 120, 1)
    [reject] = query(engine, "SELECT locator, reason, raw FROM rejects")
    assert reject.locator == "page 1 item 60"
    assert reason in reject.reason, reject.reason
    assert reject.raw and len(reject.raw) <= 4000 + len(" [… 999,999,999 characters in all]")
    [count] = query(engine, "SELECT count(*) AS n FROM records WHERE source = 'coingecko'")
    assert count.n == 120


PAPRIKA_POISONS = [
    ("401-digit-price", {"price": HUGE_INT}, {}, "quotes.USD.price is too large"),
    ("stamp-past-9999", {}, {"last_updated": '"9999-12-31T23:59:59-05:00"'}, "out of range"),
    ("lone-surrogate-id", {}, {"id": '"x\\udfffy"'}, "id contains a lone surrogate"),
]


@pytest.mark.parametrize(
    ("quote", "fields", "reason"),
    [p[1:] for p in PAPRIKA_POISONS],
    ids=[p[0] for p in PAPRIKA_POISONS],
)
@pytest.mark.slow
def test_one_poisoned_coinpaprika_ticker_is_rejected_and_the_2500_others_load(
    engine: Engine,
    upstream: FakeUpstream,
    quote: dict[str, str],
    fields: dict[str, str],
    reason: str,
) -> None:
    usd = {"price": "2.5", "market_cap": "1", "volume_24h": "1", **quote}
    bad = {
        "id": '"psn-poison"',
        "name": '"Poison"',
        "symbol": '"PSN"',
        "last_updated": '"2023-08-11T08:09:18Z"',
        **fields,
        "quotes": '{"USD": {' + ", ".join(f'"{k}": {v}' for k, v in usd.items()) + "}}",
    }
    upstream.serve(TICKERS, json_reply(with_poison(json.loads(sample(PAPRIKA)), 1000, bad)))
    summary = run_etl(engine, make_config(upstream), sources=["coinpaprika"], retry=FAST)
    paprika = by_source(summary)["coinpaprika"]
    assert (paprika.status, paprika.inserted, paprika.rejected) == ("success", 2500, 1)
    [reject] = query(engine, "SELECT locator, reason FROM rejects")
    assert reject.locator == "page 1 item 1000"
    assert reason in reject.reason, reject.reason


CSV_POISONS = [
    ("stamp-past-9999", {"timestamp": "9999-12-31T23:59:59-05:00"}, "is out of range"),
    ("stamp-before-year-1", {"timestamp": "0001-01-01T00:00:00+05:00"}, "is out of range"),
    ("sharp-s-symbol", {"symbol": "\u00df" * 40}, "symbol is longer than 64"),
    ("ffi-symbol", {"symbol": "\ufb03" * 30}, "symbol is longer than 64"),
    ("bidi-name", {"name": "Bitcoin\u202e"}, "invisible format character"),
    ("huge-price", {"price": HUGE_INT}, "must be a finite number"),
    ("full-width-symbol", {"symbol": "\uff22\uff34\uff23"}, FULL_WIDTH),
    ("overlay-symbol", {"symbol": "B\u0336T\u0336C\u0336"}, OVERLAY),
    ("60-accents-symbol", {"symbol": "B" + "\u0301" * 60}, ACCENT),
    ("no-break-space-symbol", {"symbol": "B\u00a0TC"}, NO_BREAK),
]


@pytest.mark.parametrize(
    ("shape", "bad", "reason"),
    [(layout, bad, reason) for layout in ("csv", "csv2") for _, bad, reason in CSV_POISONS],
    ids=[f"{layout}-{name}" for layout in ("csv", "csv2") for name, _, _ in CSV_POISONS],
)
def test_one_poisoned_csv_row_is_rejected_and_the_shipped_rows_load(
    engine: Engine, tmp_path: Path, shape: str, bad: dict[str, str], reason: str
) -> None:
    row = {
        "symbol": "PSN",
        "name": "Poison",
        "price": "1.5",
        "timestamp": "2021-03-01T00:00:00Z" if shape == "csv" else "2021-03-01 23:59:59",
        **bad,
    }
    shipped = (REPO / "data" / ("data.csv" if shape == "csv" else "data2.csv")).read_text()
    lines = shipped.splitlines(keepends=True)
    if shape == "csv":
        line = f"{row['symbol']},{row['name']},{row['price']},1,1,{row['timestamp']}\n"
    else:
        p = row["price"]
        line = f"9,{row['name']},{row['symbol']},{row['timestamp']},{p},{p},{p},{p},1,1\n"
    lines.insert(700, line)
    path = write(tmp_path / "poisoned.csv", "".join(lines))
    key = "csv_path" if shape == "csv" else "csv2_path"
    summary = run_etl(engine, make_config(None, **{key: path}), sources=[shape], retry=FAST)
    result = by_source(summary)[shape]
    expected = 1496 if shape == "csv" else 1274
    assert (result.status, result.inserted, result.rejected) == ("success", expected, 1)
    [reject] = query(engine, "SELECT locator, reason FROM rejects")
    assert (reject.locator, reason in reject.reason) == ("line 701", True), reject.reason


def test_the_text_limits_are_the_columns() -> None:
    """Validation takes its limits from the table definitions, declared once."""
    assert SYMBOL_LIMIT == records.c.symbol.type.length == 64  # type: ignore[attr-defined]
    assert NAME_LIMIT == records.c.name.type.length == 300  # type: ignore[attr-defined]


def test_an_item_whose_validation_fails_unexpectedly_is_a_reject_not_a_failed_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The item boundary: a validator that raises something other than ``RecordRejected``
    (a bug, or an input nobody foresaw) costs that item, logged with its traceback."""

    def fragile(item: dict[str, Any], parse_time: TimestampParser) -> Row:
        if item["id"] == "ethereum":
            raise ZeroDivisionError("division by zero")
        return coingecko_item(item, parse_time)

    page = Response("http://upstream/markets", 200, sample(GECKO), datetime.now(UTC))
    parse_time = TimestampParser(datetime.now(UTC), timedelta(seconds=300))
    chunks = list(
        validated_chunks(
            "coingecko",
            iter([("page 1", page)]),
            fragile,
            parse_time,
            500,
            lambda _: None,
            rejects=RejectLog(100, 1.0),
        )
    )
    rows = [row for chunk in chunks for row in chunk.rows]
    [reject] = [reject for chunk in chunks for reject in chunk.rejects]
    assert len(rows) == 119
    assert (reject.locator, reject.reason, reject.kind) == (
        "page 1 item 1",
        "internal error: ZeroDivisionError: division by zero",
        "internal error",
    )
    assert "validating a row of coingecko failed unexpectedly" in caplog.text
    assert "ZeroDivisionError" in caplog.text  # the traceback is logged
