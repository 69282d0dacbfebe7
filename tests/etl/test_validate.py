from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from kasparro.etl.errors import RecordRejected
from kasparro.etl.validate import (
    TimestampParser,
    csv_number,
    json_number,
    name_text,
    stamp_datetime,
    symbol_text,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=300)
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2021-07-06 23:59:59", "2021-07-06 23:59:59.000000"),
        ("2023-08-11T08:09:18Z", "2023-08-11 08:09:18.000000"),
        ("2025-05-20T05:13:30.238Z", "2025-05-20 05:13:30.238000"),
        ("2021-07-07T01:59:59+02:00", "2021-07-06 23:59:59.000000"),
        ("2021-07-06", "2021-07-06 00:00:00.000000"),
        ("2026-11-25T12:05:00Z", "2026-11-25 12:05:00.000000"),
    ],
)
def test_timestamps_become_canonical_utc_text(raw: str, expected: str) -> None:
    assert TimestampParser(NOW, SKEW)(raw) == expected
    assert stamp_datetime(expected).tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2008-12-31T23:59:59Z", "is before 2009-01-01"),
        ("2026-11-25T12:05:01Z", "in the future by more than the 300 s"),
        ("2026-11-26T11:00:00Z", "in the future by more than the 300 s"),
        ("9999-12-31T23:59:59-05:00", "is out of range"),
        ("0001-01-01T00:00:00+05:00", "is out of range"),
        ("29/04/2013 23:59", "is not ISO-8601"),
        ("  ", "timestamp is empty"),
    ],
)
def test_absurd_timestamps_are_rejected(raw: str, reason: str) -> None:
    with pytest.raises(RecordRejected, match=reason):
        TimestampParser(NOW, SKEW)(raw)


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


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("BTC\u202e", "symbol contains an invisible format character (U+202E) at character 4"),
        ("\u202eCTB", "symbol contains an invisible format character (U+202E) at character 1"),
        ("BT\u00adC", "symbol contains an invisible format character (U+00AD) at character 3"),
        ("B\u200bTC", "symbol contains an invisible format character (U+200B) at character 2"),
        ("B\u200dTC", "symbol contains an invisible format character (U+200D) at character 2"),
        ("BTC\ufe0f", "symbol contains an invisible character (U+FE0F) at character 4"),
        ("BTC\u2066", "symbol contains an invisible format character (U+2066) at character 4"),
        ("\u3164", "symbol contains an invisible character (U+3164) at character 1"),
        ("BT\tC", "symbol contains a control character (U+0009) at character 3"),
        ("BT\x00C", "symbol contains a NUL character (U+0000) at character 3"),
        ("BTC\ue000", "symbol contains a private-use character (U+E000) at character 4"),
        ("BTC\U000e0001", "symbol contains an invisible format character (U+E0001)"),
        ("BTC\u0378", "symbol contains an unassigned code point (U+0378) at character 4"),
        ("BT\u2028C", "symbol contains a line separator (U+2028) at character 3"),
        ("BT\ud800C", "symbol contains a lone surrogate (not valid Unicode text) (U+D800)"),
        ("\u00df" * 40, "symbol is longer than 64 characters (80 once upper-cased)"),
        ("\uff22\uff34\uff23", "symbol contains a compatibility character (NFKC replaces"),
        ("BTC\u2122", "symbol contains a compatibility character (NFKC replaces it) (U+2122)"),
        ("\u212aBT", "symbol contains a compatibility character (NFKC replaces it) (U+212A)"),
        ("B\u0336T\u0336C\u0336", "symbol contains a combining mark (U+0336) at character 2"),
        ("B" + "\u0301" * 60, "symbol contains a combining mark (U+0301) at character 2"),
        ("BTC\u20dd", "symbol contains a combining mark (U+20DD) at character 4"),
        ("B\u00a0TC", "symbol contains a space other than U+0020 (U+00A0) at character 2"),
        ("B\u3000TC", "symbol contains a space other than U+0020 (U+3000) at character 2"),
        ("\u1100\u1161", "symbol is not in NFKC normal form (it would be '\uac00')"),
    ],
)
def test_symbols_that_would_display_as_other_text_or_not_fit_are_rejected(
    value: str, reason: str
) -> None:
    with pytest.raises(RecordRejected) as caught:
        symbol_text(value)
    assert caught.value.reason.startswith(reason), caught.value.reason


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("\u200b\u200bStable", "Stable"),  # recorded: CoinGecko sends it so
        ("Moonaï", "Moonaï"),
        ("\U0001f468\u200d\U0001f4bb Coin", "\U0001f468\u200d\U0001f4bb Coin"),  # emoji ZWJ
        ("\u2764\ufe0f Love", "\u2764\ufe0f Love"),  # emoji presentation selector
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        ),
        ("Ether\u00a0Coin", "Ether\u00a0Coin"),  # a no-break space is visible as a space
    ],
)
def test_names_keep_the_characters_scripts_and_emoji_need(value: str, stored: str) -> None:
    assert name_text(value) == stored


def test_names_refuse_compatibility_characters_but_symbols_keep_real_scripts() -> None:
    with pytest.raises(RecordRejected, match=r"name contains a compatibility .* \(U\+FF22\)"):
        name_text("\uff22itcoin")
    assert name_text("Caf\u00e9 Coin") == "Caf\u00e9 Coin"
    for symbol in ("\u2764\ufe0f", "\ud55c\uad6d", "\u0411\u0422\u0421", "\u00c9TH", "BTC 2"):
        assert symbol_text(symbol) == symbol


def test_a_symbol_exactly_at_the_column_length_after_upper_casing_fits() -> None:
    assert symbol_text("\u00df" * 32) == "SS" * 32
