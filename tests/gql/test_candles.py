"""``candles`` (GraphQL and ``GET /candles``) against a brute-force computation.

Generated stores (``tests.products_store``: rows on bucket boundaries and a microsecond
before them, ties across sources at one time, one-sample buckets, late corrections and
prunes) are written through the loader's functions; every answer must equal the candles
computed in plain Python from the rows the store holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from starlette.testclient import TestClient

from kasparro.db.candles import INTERVALS
from kasparro.gql.products import CandleInterval
from tests.conftest import ON_POSTGRESQL
from tests.gql.conftest import graphql
from tests.products_store import (
    ASSET_IDS,
    SOURCES,
    T0,
    Model,
    Row,
    Scenario,
    apply,
    examples,
    scenarios,
    symbol_of,
)

EXAMPLES = 40 if ON_POSTGRESQL else 100
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIELDS = "start open high low close samples sources"

QUERY = f"""
query($asset: String, $symbol: String, $source: [String!], $interval: CandleInterval!,
      $since: DateTime, $until: DateTime, $first: Int) {{
  candles(asset: $asset, symbol: $symbol, source: $source, interval: $interval,
          since: $since, until: $until, first: $first) {{ {FIELDS} }}
}}
"""


class Ask(NamedTuple):
    """What a candles request asks for (an asset named by id or by symbol)."""

    interval: str
    asset: str
    sources: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    first: int = 500
    by_symbol: bool = False


def expected_candles(model: Model, ask: Ask) -> list[dict[str, Any]]:
    interval, asset, sources, since, until, first, _ = ask
    size, offset = INTERVALS[interval]
    buckets: dict[int, list[Row]] = {}
    for row in model.rows.values():
        if row.asset_id != asset or (sources and row.source not in sources):
            continue
        if (since is not None and row.timestamp < since) or (
            until is not None and row.timestamp >= until
        ):
            continue
        second = (row.timestamp - EPOCH) // timedelta(seconds=1)
        buckets.setdefault(second - (second - offset) % size, []).append(row)
    found = []
    for start in sorted(buckets)[:first]:
        rows = sorted(buckets[start], key=lambda row: (row.timestamp, row.source, row.record_id))
        values = [row.value for row in rows]
        found.append(
            {
                "start": (EPOCH + timedelta(seconds=start)).isoformat(),
                "open": values[0],
                "high": max(values),
                "low": min(values),
                "close": values[-1],
                "samples": len(rows),
                "sources": sorted({row.source for row in rows}),
            }
        )
    return found


_BOUNDS = st.none() | st.integers(0, 21 * 24).map(lambda h: T0 + timedelta(hours=h))


@pytest.mark.slow
def test_candles_match_brute_force(engine: Engine, settings_client: TestClient) -> None:
    @examples(EXAMPLES)
    @given(
        scenario=scenarios(size=60),
        ask=st.builds(
            Ask,
            interval=st.sampled_from(list(INTERVALS)),
            asset=st.sampled_from(ASSET_IDS),
            sources=st.lists(st.sampled_from(SOURCES), unique=True, max_size=2).map(tuple),
            since=_BOUNDS,
            until=_BOUNDS,
            first=st.sampled_from([1, 2, 5, 500]),
            by_symbol=st.booleans(),
        ),
    )
    def check(scenario: Scenario, ask: Ask) -> None:
        model = apply(engine, scenario)
        expected = expected_candles(model, ask)
        interval, asset, sources, since, until, first, by_symbol = ask
        which = {"symbol": symbol_of(asset).lower()} if by_symbol else {"asset": asset}
        body = graphql(
            settings_client,
            QUERY,
            **which,
            source=list(sources) or None,
            interval=interval,
            since=since.isoformat() if since else None,
            until=until.isoformat() if until else None,
            first=first,
        )
        assert "errors" not in body, body
        assert body["data"]["candles"] == expected  # type: ignore[index]
        params: dict[str, Any] = {**which, "interval": interval, "limit": first}
        if sources:
            params["source"] = ",".join(sources)
        if since:
            params["since"] = since.isoformat()
        if until:
            params["until"] = until.isoformat()
        response = settings_client.get("/candles", params=params)
        assert response.status_code == 200, response.text
        assert response.json()["data"] == expected

    check()


def test_ties_and_weeks(engine: Engine, settings_client: TestClient) -> None:
    sunday_night = T0 - timedelta(microseconds=1)  # T0 is a Monday
    rows = [
        Row("csv", "alpha~a", sunday_night, 5.0),
        Row("csv2", "alpha~a", T0, 3.0),
        Row("coingecko", "alpha~a", T0, 4.0),
        Row("coinpaprika", "alpha~b", T0 + timedelta(days=6, hours=23), 6.0),
        Row("coinpaprika", "alpha~a", T0 + timedelta(days=6, hours=23), 7.0),
    ]
    apply(engine, Scenario([rows], None))
    body = graphql(settings_client, QUERY, asset="alpha", interval="WEEK_1")
    assert body["data"]["candles"] == [  # type: ignore[index]
        {
            "start": (T0 - timedelta(weeks=1)).isoformat(),
            "open": 5.0,
            "high": 5.0,
            "low": 5.0,
            "close": 5.0,
            "samples": 1,
            "sources": ["csv"],
        },
        {
            "start": T0.isoformat(),
            "open": 4.0,  # coingecko before csv2 at the same time
            "high": 7.0,
            "low": 3.0,
            "close": 6.0,  # coinpaprika's two record ids at one time: alpha~b last
            "samples": 4,
            "sources": ["coingecko", "coinpaprika", "csv2"],
        },
    ]


def test_the_enum_is_the_interval_registry() -> None:
    assert [member.value for member in CandleInterval] == list(INTERVALS)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"interval": "DAY_1"}, "give one of asset or symbol"),
        ({"asset": "alpha", "symbol": "ALP", "interval": "DAY_1"}, "give one of asset or symbol"),
        ({"asset": "alpha"}, "interval: required, one of MINUTE_5, HOUR_1, DAY_1, WEEK_1"),
        ({"asset": "alpha", "interval": "DAY_2"}, "interval: 'DAY_2' is not one of"),
        ({"asset": "alpha", "interval": "DAY_1", "limit": "1001"}, "limit must be at most 1000"),
        ({"asset": "alpha", "interval": "DAY_1", "since": "yesterday"}, "since: 'yesterday'"),
        ({"asset": "alpha", "interval": "DAY_1", "source": "kraken"}, "unknown source 'kraken'"),
        ({"asset": "alpha", "interval": "DAY_1", "first": "3"}, "unknown parameter 'first'"),
    ],
)
def test_bad_parameters_are_400s_saying_why(
    settings_client: TestClient, params: dict[str, str], message: str
) -> None:
    response = settings_client.get("/candles", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_graphql_needs_one_of_asset_or_symbol(settings_client: TestClient) -> None:
    body = graphql(settings_client, "{ candles(interval: DAY_1) { open } }")
    assert body["errors"][0]["message"] == "give one of asset or symbol"  # type: ignore[index]


def test_graphiqls_default_document_shows_candles_and_consensus(client: TestClient) -> None:
    page = client.get("/graphql", headers={"Accept": "text/html"}).text
    document = page.split("const EXAMPLE_QUERY = `", 1)[1].split("`;", 1)[0]
    body = graphql(client, document.replace("\\`", "`"))
    assert "errors" not in body, body
    data: Any = body["data"]
    assert [candle["samples"] for candle in data["candles"]] == [4 * 6]  # store.py: one day
    assert data["candles"][0]["sources"] == ["coingecko", "coinpaprika", "csv", "csv2"]
    assert data["consensus"][0]["asset"] == {"id": "bitcoin"}
    assert len(data["consensus"][0]["quotes"]) == 4
