"""Canonical assets: decide which coin a source's record belongs to.

Resolution order for a ``(source, record_id)`` not seen before:

1. an explicit alias in ``asset_aliases`` (every earlier decision is stored as one);
2. the seed file ``data/assets.csv`` (``coinpaprika_id`` / ``coingecko_id`` for the APIs;
   symbol plus name or one of its ``aliases`` for the CSV sources);
3. the id rule: CoinPaprika ``<symbol>-<slug>`` and CoinGecko ``<slug>`` name the same coin
   when the symbols agree (``btc-bitcoin`` ↔ ``bitcoin``);
4. the same symbol and the same normalized name as exactly one known asset;
5. otherwise a new asset. Its id is the CoinGecko-style slug when free, else the source's id.

A symbol alone never decides: two coins sharing a ticker stay two assets. Rules 3 and 4 never
join two ids of the same source: a source that lists both under different ids (CoinPaprika
has ``pepeai1-pepe-ai`` and ``pepeai2-pepe-ai``, both "Pepe AI") says they are different.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kasparro.etl.errors import EtlError

SEED_COLUMNS = ("id", "symbol", "name", "coinpaprika_id", "coingecko_id", "aliases")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize_name(name: str) -> str:
    """Lower-case ASCII letters and digits only: ``"Crypto.com Coin "`` → ``"cryptocomcoin"``."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return _NOT_ALNUM.sub("", folded)


def slug(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return _NOT_ALNUM.sub("-", folded).strip("-") or "asset"


@dataclass(frozen=True, slots=True)
class SeedAsset:
    id: str
    symbol: str
    name: str
    source_ids: dict[str, str]
    names: tuple[str, ...]


def load_seed(path: Path) -> list[SeedAsset]:
    """Read ``data/assets.csv``; raise ``EtlError`` naming the problem."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in SEED_COLUMNS[:3] if c not in (reader.fieldnames or [])]
            if missing:
                raise EtlError(f"{path}: missing column(s) {', '.join(missing)}")
            seeds = []
            for row in reader:
                names = [row["name"], *(row.get("aliases") or "").split("|")]
                seeds.append(
                    SeedAsset(
                        id=row["id"].strip(),
                        symbol=row["symbol"].strip().upper(),
                        name=row["name"].strip(),
                        source_ids={
                            source: (row.get(f"{source}_id") or "").strip()
                            for source in ("coinpaprika", "coingecko")
                            if (row.get(f"{source}_id") or "").strip()
                        },
                        names=tuple(n.strip() for n in names if n.strip()),
                    )
                )
            return seeds
    except OSError as exc:
        raise EtlError(f"cannot read asset seed {path}: {exc.strerror}") from None


@dataclass(frozen=True, slots=True)
class NewAsset:
    id: str
    symbol: str
    name: str


@dataclass(frozen=True, slots=True)
class NewAlias:
    record_id: str
    asset_id: str
    method: str


@dataclass(slots=True)
class Pending:
    """Decisions made since the last batch was written, to be written with the next."""

    assets: list[NewAsset] = field(default_factory=list)
    aliases: list[NewAlias] = field(default_factory=list)


class AssetResolver:
    """Resolves one source's records; built from the stored assets and aliases."""

    def __init__(
        self,
        source: str,
        seeds: Iterable[SeedAsset],
        assets: Iterable[tuple[str, str, str]],
        aliases: Iterable[tuple[str, str, str]],
    ) -> None:
        self.source = source
        self.pending = Pending()
        self._assets: dict[str, tuple[str, str]] = {a[0]: (a[1], a[2]) for a in assets}
        self._aliases: dict[tuple[str, str], str] = {(s, r): a for s, r, a in aliases}
        self._mine = {r: a for (s, r), a in self._aliases.items() if s == source}
        self._taken = set(self._mine.values())
        self._seeds = {seed.id: seed for seed in seeds}
        self._seed_by_id = {
            seed.source_ids[source]: seed
            for seed in self._seeds.values()
            if source in seed.source_ids
        }
        self._seed_by_name: dict[tuple[str, str], SeedAsset] = {}
        self._by_name: dict[tuple[str, str], set[str]] = {}
        for seed in self._seeds.values():
            for name in seed.names:
                self._seed_by_name.setdefault((seed.symbol, normalize_name(name)), seed)
        for asset_id, (symbol, name) in self._assets.items():
            self._remember(symbol, name, asset_id)
            seeded = self._seeds.get(asset_id)
            for other in seeded.names if seeded else ():
                self._remember(symbol, other, asset_id)

    def resolve(self, record_id: str, symbol: str, name: str) -> str:
        """The canonical asset id for a record (creating it when needed)."""
        known = self._mine.get(record_id)
        if known is not None:
            return known
        asset_id, method = self._decide(record_id, symbol, name)
        if asset_id not in self._assets:
            self._assets[asset_id] = (symbol, name)
            self.pending.assets.append(NewAsset(asset_id, symbol, name))
        self._remember(symbol, name, asset_id)
        self._mine[record_id] = asset_id
        self._taken.add(asset_id)
        self._aliases[(self.source, record_id)] = asset_id
        self.pending.aliases.append(NewAlias(record_id, asset_id, method))
        return asset_id

    def resolve_all(
        self, record_ids: Sequence[str], symbols: Sequence[str], names: Sequence[str]
    ) -> list[str]:
        """``resolve`` of each (record id, symbol, name); ids this source has resolved
        before are looked up without a call, as this runs once per row."""
        mine, resolve = self._mine, self.resolve
        return [
            mine.get(record_id) or resolve(record_id, symbol, name)
            for record_id, symbol, name in zip(record_ids, symbols, names, strict=True)
        ]

    def take_pending(self) -> Pending:
        pending, self.pending = self.pending, Pending()
        return pending

    def _remember(self, symbol: str, name: str, asset_id: str) -> None:
        self._by_name.setdefault((symbol, normalize_name(name)), set()).add(asset_id)

    def _decide(self, record_id: str, symbol: str, name: str) -> tuple[str, str]:
        seed = self._seed_by_id.get(record_id)
        if seed is None and self.source not in ("coinpaprika", "coingecko"):
            seed = self._seed_by_name.get((symbol, normalize_name(name)))
        if seed is not None:
            if seed.id not in self._assets:
                self._assets[seed.id] = (seed.symbol, seed.name)
                self.pending.assets.append(NewAsset(seed.id, seed.symbol, seed.name))
            return seed.id, "seed"
        by_rule = self._id_rule(record_id, symbol)
        if by_rule is not None:
            return by_rule, "id-rule"
        matches = self._by_name.get((symbol, normalize_name(name)), set()) - self._taken
        if len(matches) == 1:
            return next(iter(matches)), "symbol-name"
        return self._new_id(record_id, symbol, name), "new"

    def _id_rule(self, record_id: str, symbol: str) -> str | None:
        prefix = symbol.lower() + "-"
        if self.source == "coinpaprika" and record_id.startswith(prefix):
            other = ("coingecko", record_id[len(prefix) :])
        elif self.source == "coingecko":
            other = ("coinpaprika", prefix + record_id)
        else:
            return None
        asset_id = self._aliases.get(other)
        if asset_id is None or asset_id in self._taken:
            return None
        return asset_id if self._assets.get(asset_id, ("",))[0] == symbol else None

    def _new_id(self, record_id: str, symbol: str, name: str) -> str:
        prefix = symbol.lower() + "-"
        if self.source == "coingecko":
            candidates = [record_id]
        elif self.source == "coinpaprika":
            stripped = record_id[len(prefix) :] if record_id.startswith(prefix) else record_id
            candidates = [stripped, record_id]
        else:
            candidates = [slug(name), f"{slug(name)}-{slug(symbol)}"]
        candidates = [candidate[:190] for candidate in candidates]
        for candidate in candidates:
            if candidate not in self._assets and candidate not in self._seeds:
                return candidate
        number = 2
        while (
            f"{candidates[-1]}-{number}" in self._assets
            or f"{candidates[-1]}-{number}" in self._seeds
        ):
            number += 1
        return f"{candidates[-1]}-{number}"
