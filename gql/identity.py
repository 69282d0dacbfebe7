"""Stable ids of the objects clients cache (Apollo's InMemoryCache, Relay's store).

A client cache keys an object by ``__typename`` and ``id``: the same object read under two
argument sets is then stored once, and a later read updates it. Each id is a
``gql.tokens`` token of the type's name and the object's key in the store, so it is the
same on every server, in every order and page, and unique among objects of its type:

- ``Record``: its primary key ``(source, recordId, timestamp)``, the timestamp in UTC;
- ``AssetPrice``: ``(asset, source)``: the newest price of an asset from a source is one
  object whose value moves as new prices arrive;
- ``SourceRun``: ``(run id, source)``.

Objects that already have one (``Asset.id``, ``EtlRun.id``) keep it; the singletons
``Stats`` and ``Health`` have none (docs/api.md, "Client caches", gives their typePolicies).
Clients must treat ids as opaque.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from kasparro.gql.tokens import encode_token


def record_id(source: str, record_id: str, timestamp: datetime) -> str:
    """The id of the record with this primary key."""
    return encode_token(["Record", source, record_id, timestamp.astimezone(UTC).isoformat()])


def record_ids(keys: Iterable[tuple[str, str, datetime]]) -> list[str]:
    """``record_id`` of each ``(source, record_id, timestamp)``, a page at a time: rows
    share few timestamps, and each is put in UTC text once."""
    stamps: dict[datetime, str] = {}
    ids = []
    for source, key, timestamp in keys:
        text = stamps.get(timestamp)
        if text is None:
            text = stamps[timestamp] = timestamp.astimezone(UTC).isoformat()
        ids.append(encode_token(["Record", source, key, text]))
    return ids


def price_id(asset_id: str, source: str) -> str:
    """The id of an asset's newest price from ``source``."""
    return encode_token(["AssetPrice", asset_id, source])


def source_run_id(run_id: int, source: str) -> str:
    """The id of what ``source`` did in run ``run_id``."""
    return encode_token(["SourceRun", str(run_id), source])
