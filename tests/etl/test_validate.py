from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from etl.errors import RecordRejected
from etl.validate import (
    TimestampParser,
    csv_number,
    json_number,
    name_text,
    stamp_datetime,
    symbol_text,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2021-07-06 23:59:59", "2021-07-06 23:59:59.000000"),
        ("2023-08-11T08:09:18Z", "2023-08-11 08:09:18.000000"),
        ("2025-05-20T05:13:30.238Z", "2025-05-20 05:13:30.238000"),
        ("2021-07-07T01:59:59+02:00", "2021-07-06 23:59:59.000000"),
        ("2021-07-06", "2021-07-06 00:00:00.000000"),
        ("2026-11-26T11:00:00Z", "2026-11-26 11:00:00.000000"),
    ],
)
def test_timestamps_become_canonical_utc_text(raw: str, expected: str) -> None:
    assert TimestampParser(NOW)(raw) == expected
    assert stamp_datetime(expected).tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2008-12-31T23:59:59Z", "is before 2009-01-01"),
        ("2026-11-26T12:00:01Z", "more than a day in the future"),
        ("29/04/2013 23:59", "is not ISO-8601"),
        ("  ", "timestamp is empty"),
    ],
)
def test_absurd_timestamps_are_rejected(raw: str, reason: str) -> None:
    with pytest.raises(RecordRejected, match=reason):
        TimestampParser(NOW)(raw)


def test_numbers_must_be_finite_and_not_negative() -> None:
    assert csv_number("9.8339696705807e-05", "price_usd", required=True) == pytest.approx(
        9.8339696705807e-05
    )
    assert csv_number("", "market_cap", required=False) is None
    for bad in ("nan", "inf", "-1", "abc", "1,5"):
        with pytest.raises(RecordRejected):
            csv_number(bad, "price_usd", required=True)
    with pytest.raises(RecordRejected, match="price_usd is empty"):
        csv_number("", "price_usd", required=True)
    assert json_number(106111, "current_price", required=True) == 106111.0
    for bad_value in (True, "1.0", math.nan, -0.5, [1]):
        with pytest.raises(RecordRejected):
            json_number(bad_value, "current_price", required=True)
    with pytest.raises(RecordRejected, match="current_price is missing"):
        json_number(None, "current_price", required=True)


def test_text_is_trimmed_of_spaces_and_zero_width_characters() -> None:
    assert name_text("\u200b\u200bStable") == "Stable"
    assert name_text("STAT ") == "STAT"
    assert name_text("İstanbul Başakşehir Fan Token") == "İstanbul Başakşehir Fan Token"
    assert symbol_text("avax") == "AVAX"
    with pytest.raises(RecordRejected, match="symbol is empty"):
        symbol_text("  ")
    with pytest.raises(RecordRejected, match="name is missing"):
        name_text(None)
