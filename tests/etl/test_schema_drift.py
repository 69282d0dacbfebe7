"""A source that rejects more than ETL_MAX_REJECT_RATIO of what it read fails, naming the likely
drift, in every place a run's outcome shows (issue 13, item 13)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine
from starlette.testclient import TestClient

from kasparro.etl.pipeline import run_etl
from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.etl.conftest import FAST, by_source, make_config, query, write
from tests.gql.test_metrics import scrape, value
from tests.support.upstream import GECKO, MARKETS, FakeUpstream, json_reply, sample

TOKEN = "drift-token"
DRIFT = (
    "likely schema drift: 120 of 120 read were rejected, more than ETL_MAX_REJECT_RATIO 0.5 "
    "allows; current_price is missing in 120 of 120 read (see rejects)"
)


def renamed(items: list[dict[str, object]], count: int) -> str:
    """The payload with ``current_price`` renamed ``price`` in its first ``count`` items."""
    return json.dumps(
        [
            {("price" if key == "current_price" and n < count else key): v for key, v in i.items()}
            for n, i in enumerate(items)
        ]
    )


def test_a_renamed_price_field_fails_the_source_everywhere_it_shows(
    database_url: str, upstream: FakeUpstream
) -> None:
    upstream.serve(MARKETS, json_reply(renamed(json.loads(sample(GECKO)), 120)))
    settings = make_settings(
        database_url,
        ADMIN_TOKEN=TOKEN,
        COINGECKO_BASE_URL=upstream.coingecko_url,
        ETL_SOURCES="coingecko,csv",
    )
    with TestClient(create_app(settings.app_config())) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        run = client.post("/etl/run", headers=auth, json={}).json()
        assert (run["status"], run["error"]) == ("partial", "failed: coingecko")
        gecko = {s["source"]: s for s in run["sources"]}["coingecko"]
        assert (gecko["status"], gecko["error"], gecko["rejected"]) == ("failed", DRIFT, 120)
        assert client.get("/health").json()["etl_last_run"] == "partial"
        graphql = client.post(
            "/graphql", json={"query": "{ etlRuns { status sources { source status error } } }"}
        ).json()
        [latest] = graphql["data"]["etlRuns"]
        assert latest["status"] == "PARTIAL"
        assert {"source": "coingecko", "status": "FAILED", "error": DRIFT} in latest["sources"]
        metrics = scrape(client)
        last = "kasparro_etl_source_last_status"
        assert value(metrics, last, source="coingecko", status="failed") == 1
        assert value(metrics, last, source="coingecko", status="success") == 0
        assert value(metrics, last, source="csv", status="success") == 1


def test_the_rejects_may_reach_the_ratio_and_not_pass_it(
    engine: Engine, upstream: FakeUpstream
) -> None:
    items = json.loads(sample(GECKO))
    upstream.serve(MARKETS, json_reply(renamed(items, 60)))
    config = make_config(upstream)
    summary = run_etl(engine, config, sources=["coingecko"], retry=FAST)
    half = by_source(summary)["coingecko"]
    assert (half.status, half.inserted, half.rejected, half.error) == ("success", 60, 60, None)

    upstream.serve(MARKETS, json_reply(renamed(items, 61)))
    summary = run_etl(engine, config, sources=["coingecko"], retry=FAST)
    more = by_source(summary)["coingecko"]
    assert (more.status, more.rejected, more.unchanged) == ("failed", 61, 59)
    assert "current_price is missing in 61 of 120 read" in (more.error or "")
    # The good rows of a failed source are kept, and its checkpoint moves with them.
    [count] = query(engine, "SELECT count(*) AS n FROM records")
    assert count.n == 60
    assert more.checkpoint_after == half.checkpoint_after is not None


def test_a_ratio_of_one_never_fails_a_source_for_its_rejects(
    engine: Engine, upstream: FakeUpstream
) -> None:
    upstream.serve(MARKETS, json_reply(renamed(json.loads(sample(GECKO)), 120)))
    config = make_config(upstream, max_reject_ratio=1.0)
    summary = run_etl(engine, config, sources=["coingecko"], retry=FAST)
    assert by_source(summary)["coingecko"].status == "success"


def test_a_drifted_file_fails_every_run_until_it_is_fixed(engine: Engine, tmp_path: Path) -> None:
    """An export that starts writing prices as "$1,234.50": each run reads the file again and
    fails again (an unchanged file is not skipped as done), until the file is fixed."""
    header = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"
    days = range(1, 5)
    dollars = [f'BTC,Bitcoin,"${day},000.50",,,2021-07-{day:02d}T00:00:00Z\n' for day in days]
    path = write(tmp_path / "drifted.csv", header + "".join(dollars))
    config = make_config(csv_path=path)
    for _ in range(2):
        csv = by_source(run_etl(engine, config, sources=["csv"], retry=FAST))["csv"]
        assert (csv.status, csv.rows_read, csv.rejected) == ("failed", 4, 4)
        assert "price_usd is not a number in 4 of 4 read" in (csv.error or "")
    plain = [f"BTC,Bitcoin,{day}000.50,,,2021-07-{day:02d}T00:00:00Z\n" for day in days]
    write(path, header + "".join(plain))
    fixed = by_source(run_etl(engine, config, sources=["csv"], retry=FAST))["csv"]
    assert (fixed.status, fixed.inserted, fixed.rejected) == ("success", 4, 0)
