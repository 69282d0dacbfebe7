"""Canonical asset resolution, rule by rule (pure: no database)."""

from __future__ import annotations

from kasparro.etl.assets import AssetResolver, load_seed, normalize_name
from tests.conftest import REPO

SEEDS = load_seed(REPO / "data" / "assets.csv")


def resolver(
    source: str,
    assets: list[tuple[str, str, str]] | None = None,
    aliases: list[tuple[str, str, str]] | None = None,
) -> AssetResolver:
    return AssetResolver(source, SEEDS, assets or [], aliases or [])


def test_the_seed_maps_each_source_id_and_csv_names() -> None:
    assert resolver("coinpaprika").resolve("btc-bitcoin", "BTC", "Bitcoin") == "bitcoin"
    assert resolver("coingecko").resolve("binancecoin", "BNB", "BNB") == "binancecoin"
    csv = resolver("csv2")
    assert csv.resolve("BNB", "BNB", "Binance Coin") == "binancecoin"
    assert csv.resolve("CRO", "CRO", "Crypto.com Coin") == "crypto-com-chain"
    pending = csv.take_pending()
    assert [(a.id, a.symbol, a.name) for a in pending.assets] == [
        ("binancecoin", "BNB", "BNB"),
        ("crypto-com-chain", "CRO", "Cronos"),
    ]
    assert [(a.record_id, a.method) for a in pending.aliases] == [("BNB", "seed"), ("CRO", "seed")]


def test_an_explicit_alias_wins_over_everything() -> None:
    found = resolver("csv", [("my-btc", "BTC", "Bitcoin")], [("csv", "BTC", "my-btc")])
    assert found.resolve("BTC", "BTC", "Bitcoin") == "my-btc"
    assert found.take_pending().aliases == []


def test_the_paprika_gecko_id_rule_needs_the_same_symbol() -> None:
    known = [("shiba-inu", "SHIB", "Shiba Inu"), ("other", "XYZ", "Foo")]
    aliases = [("coinpaprika", "shib-shiba-inu", "shiba-inu"), ("coinpaprika", "xyz-foo", "other")]
    gecko = resolver("coingecko", known, aliases)
    assert gecko.resolve("shiba-inu", "SHIB", "Shiba Inu") == "shiba-inu"
    assert gecko.resolve("foo", "ABC", "Foo") == "foo"  # symbol differs: a new asset
    assert [a.method for a in gecko.take_pending().aliases] == ["id-rule", "new"]


def test_symbol_and_name_match_only_one_asset_and_never_the_symbol_alone() -> None:
    known = [("chainlink", "LINK", "Chainlink")]
    csv = resolver("csv", known)
    assert csv.resolve("LINK", "LINK", "ChainLink ") == "chainlink"
    other = resolver("csv", known)
    assert other.resolve("LINK", "LINK", "Link Token Impostor") == "link-token-impostor"


def test_two_ids_of_one_source_never_merge_even_with_the_same_symbol_and_name() -> None:
    paprika = resolver("coinpaprika")
    first = paprika.resolve("pepeai1-pepe-ai", "PEPEAI", "Pepe AI")
    second = paprika.resolve("pepeai2-pepe-ai", "PEPEAI", "Pepe AI")
    assert (first, second) == ("pepeai1-pepe-ai", "pepeai2-pepe-ai")


def test_new_ids_avoid_taken_and_seeded_ids() -> None:
    gecko = resolver("coinpaprika", [("core", "CORE", "Core DAO")])
    assert gecko.resolve("core-core", "CORE", "Core") == "core-core"
    # "bitcoin" is reserved for the seeded coin even before it is created.
    assert resolver("coinpaprika").resolve("fake-bitcoin", "FAKE", "Bitcoin") == "fake-bitcoin"


def test_names_normalize_to_letters_and_digits() -> None:
    assert normalize_name("Crypto.com Coin ") == "cryptocomcoin"
    assert normalize_name("\u200b\u200bStable") == "stable"
    assert normalize_name("Moonaï") == "moonai"
