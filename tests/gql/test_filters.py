from __future__ import annotations

from kasparro.db.queries import RecordFilters
from kasparro.etl.config import KNOWN_SOURCES
from kasparro.gql.filters import record_filters

NAMES = ("source", "recordId", "asset", "symbol", "since", "until")


def build(**given: list[str] | None) -> RecordFilters:
    arguments: dict[str, list[str] | None] = {
        "source": None,
        "record_id": None,
        "asset": None,
        "symbol": None,
    }
    arguments.update(given)
    return record_filters(**arguments, since=None, until=None, names=NAMES)


def test_record_ids_alone_name_every_known_source() -> None:
    filters = build(record_id=["bitcoin"])
    assert filters.sources == KNOWN_SOURCES
    assert filters.record_ids == ("bitcoin",)


def test_explicit_sources_are_kept_and_no_filter_stays_empty() -> None:
    assert build(record_id=["BTC"], source=["CSV"]).sources == ("csv",)
    assert build().sources == ()
    assert build(asset=["bitcoin"]).sources == ()
