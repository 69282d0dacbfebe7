"""``consensus`` and ``divergences`` (GraphQL and REST) against a brute-force computation.

Generated stores (``tests.products_store``: several sources and record ids per asset, late
corrections, prunes, zero prices, ties) are written through the loader's functions; every
answer is compared with the same figures computed in plain Python over the rows the store
holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from tests.conftest import ON_POSTGRESQL, make_settings
from tests.gql.conftest import graphql
from tests.products_store import (
    ASSET_IDS,
    Model,
    Row,
    Scenario,
    apply,
    examples,
    scenarios,
    symbol_of,
)

EXAMPLES = 25 if ON_POSTGRESQL else 60
MAX_AGE = timedelta(seconds=86400)
OUTLIER_PCT = 2.0

CONSENSUS_FIELDS = """
  asset { id symbol name }
  median min max spreadPct
  quotes { source value timestamp deviationPct outlier }
"""


def expected_consensus(model: Model) -> list[dict[str, Any]]:
    """Per asset with a nonzero quote, in id order: what the contract says, computed
    from every row the store holds."""
    newest: dict[tuple[str, str], Row] = {}
    for row in model.rows.values():
        key = (row.asset_id, row.source)
        held = newest.get(key)
        if held is None or (row.timestamp, held.record_id) > (held.timestamp, row.record_id):
            newest[key] = row
    found = []
    for asset_id in sorted(ASSET_IDS):
        quotes = sorted(
            (row for (a, _), row in newest.items() if a == asset_id and row.value != 0),
            key=lambda row: row.source,
        )
        if not quotes:
            continue
        newest_stamp = max(row.timestamp for row in quotes)
        kept = [row for row in quotes if newest_stamp - row.timestamp <= MAX_AGE]
        values = sorted(row.value for row in kept)
        half = len(values) // 2
        middle = values[half] if len(values) % 2 else (values[half - 1] + values[half]) / 2
        assert middle == median(values)
        found.append(
            {
                "asset": {"id": asset_id, "symbol": symbol_of(asset_id), "name": asset_id.title()},
                "median": middle,
                "min": values[0],
                "max": values[-1],
                "spreadPct": (values[-1] - values[0]) / middle * 100,
                "quotes": [
                    {
                        "source": row.source,
                        "value": row.value,
                        "timestamp": row.timestamp.isoformat(),
                        "deviationPct": (row.value - middle) / middle * 100,
                        "outlier": abs((row.value - middle) / middle * 100) > OUTLIER_PCT,
                    }
                    for row in kept
                ],
            }
        )
    return found


def as_rest(item: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL-shaped consensus in REST's field names."""
    return {
        "asset": item["asset"],
        "median": item["median"],
        "min": item["min"],
        "max": item["max"],
        "spread_pct": item["spreadPct"],
        "quotes": [
            {
                "source": quote["source"],
                "value": quote["value"],
                "timestamp": quote["timestamp"],
                "deviation_pct": quote["deviationPct"],
                "outlier": quote["outlier"],
            }
            for quote in item["quotes"]
        ],
    }


def normal_stamps(items: list[dict[str, Any]], key: str = "timestamp") -> list[dict[str, Any]]:
    """Timestamps as GraphQL writes them (``+00:00``), for comparison."""
    for item in items:
        for quote in item["quotes"]:
            quote[key] = quote[key].replace("Z", "+00:00")
    return items


@pytest.mark.slow
def test_consensus_and_divergences_match_brute_force(
    engine: Engine, settings_client: TestClient
) -> None:
    @examples(EXAMPLES)
    @given(
        scenario=scenarios(days=2),
        min_spread=st.sampled_from([0.0, 0.5, 1.0, 2.0, 50.0]),
        first=st.integers(1, 4),
        symbol=st.sampled_from(ASSET_IDS).map(symbol_of),
    )
    def check(scenario: Scenario, min_spread: float, first: int, symbol: str) -> None:
        model = apply(engine, scenario)
        expected = expected_consensus(model)

        body = graphql(settings_client, f"{{ consensus {{ {CONSENSUS_FIELDS} }} }}")
        assert "errors" not in body, body
        assert normal_stamps(body["data"]["consensus"]) == expected  # type: ignore[index]

        one = graphql(
            settings_client,
            f"query($s: [String!]) {{ consensus(symbol: $s) {{ {CONSENSUS_FIELDS} }} }}",
            s=[symbol.lower()],
        )
        assert normal_stamps(one["data"]["consensus"]) == [  # type: ignore[index]
            item for item in expected if item["asset"]["symbol"] == symbol
        ]

        wide = sorted(
            (item for item in expected if item["spreadPct"] > min_spread),
            key=lambda item: (-item["spreadPct"], item["asset"]["id"]),
        )[:first]
        body = graphql(
            settings_client,
            f"query($m: Float, $f: Int) {{ divergences(minSpreadPct: $m, first: $f) "
            f"{{ {CONSENSUS_FIELDS} }} }}",
            m=min_spread,
            f=first,
        )
        assert normal_stamps(body["data"]["divergences"]) == wide  # type: ignore[index]

        response = settings_client.get(
            "/divergences", params={"min_spread_pct": str(min_spread), "limit": str(first)}
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"] == [as_rest(item) for item in wide]
        response = settings_client.get("/consensus", params={"symbol": symbol})
        assert response.json()["data"] == [
            as_rest(item) for item in expected if item["asset"]["symbol"] == symbol
        ]

    check()


def test_settings_change_the_age_and_the_outlier_bound(database_url: str, engine: Engine) -> None:
    t0 = "2024-05-01T00:00:00+00:00"
    rows = [
        Row("coinpaprika", "alpha~a", _at(t0, hours=0), 100.0),
        Row("coingecko", "alpha~a", _at(t0, hours=2), 103.0),
        Row("csv", "alpha~a", _at(t0, hours=3), 100.5),
    ]
    apply(engine, Scenario([rows], None))
    strict = make_settings(
        database_url, CONSENSUS_MAX_AGE_SECONDS="3600", CONSENSUS_OUTLIER_PCT="0.1"
    )
    with TestClient(create_app(strict.app_config())) as client:
        item = client.get("/consensus", params={"asset": "alpha"}).json()["data"][0]
    # Only quotes within an hour of the newest (03:00) count: coingecko's and csv's.
    assert [q["source"] for q in item["quotes"]] == ["coingecko", "csv"]
    assert item["median"] == pytest.approx(101.75)
    assert [q["outlier"] for q in item["quotes"]] == [True, True]
    with TestClient(create_app(make_settings(database_url).app_config())) as client:
        item = client.get("/consensus", params={"asset": "alpha"}).json()["data"][0]
    assert [q["source"] for q in item["quotes"]] == ["coingecko", "coinpaprika", "csv"]
    assert item["median"] == 100.5
    assert item["spread_pct"] == pytest.approx(3 / 100.5 * 100)
    assert [q["outlier"] for q in item["quotes"]] == [True, False, False]


def _at(text: str, *, hours: int) -> datetime:
    return datetime.fromisoformat(text) + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/divergences", {"min_spread_pct": "-1"}, "min_spread_pct must be at least 0"),
        ("/divergences", {"min_spread_pct": "nan"}, "min_spread_pct: expected a finite number"),
        ("/divergences", {"limit": "0"}, "limit must be at least 1"),
        ("/divergences", {"limit": "100000"}, "limit must be at most 1000"),
        ("/divergences", {"first": "3"}, "unknown parameter 'first'"),
        ("/consensus", {"asset": "x" * 300}, "asset: "),
        ("/consensus", {"limit": "3"}, "unknown parameter 'limit'"),
    ],
)
def test_bad_parameters_are_400s_saying_why(
    settings_client: TestClient, path: str, params: dict[str, str], message: str
) -> None:
    response = settings_client.get(path, params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_graphql_refuses_a_negative_spread_and_an_oversized_first(
    settings_client: TestClient,
) -> None:
    body = graphql(settings_client, "{ divergences(minSpreadPct: -0.5) { median } }")
    assert body["errors"][0]["message"] == "minSpreadPct must be at least 0, got -0.5"  # type: ignore[index]
    body = graphql(settings_client, "{ divergences(first: 5000) { median } }")
    assert "first must be at most 1000" in body["errors"][0]["message"]  # type: ignore[index]


def test_an_empty_store_has_no_consensus(settings_client: TestClient) -> None:
    assert graphql(settings_client, "{ consensus { median } divergences { median } }") == {
        "data": {"consensus": [], "divergences": []}
    }
