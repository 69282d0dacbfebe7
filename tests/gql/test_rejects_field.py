"""``SourceRun.rejects``: the stored rejects of a source run, with their reasons, through
GraphQL (the dashboard's runs page shows them on click)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from kasparro.db.queries import REJECT_RAW_SHOWN
from kasparro.gql.app import create_app
from tests.conftest import make_settings

TOKEN = "rejects-token"
HEAD = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"
GOOD = [f"BTC,Bitcoin,{30000 + day},1,1,2021-01-{day:02d}T00:00:00Z\n" for day in range(1, 21)]
LONG_NAME = "N" * 3000

BAD = [
    "BTC,Bitcoin,not-a-price,1,1,2021-01-21T00:00:00Z\n",
    "ETH,Ethereum,-5,1,1,2021-01-21T00:00:00Z\n",
    f"BTC,{LONG_NAME},1,1,1,2021-01-22T00:00:00Z\n",
    "XRP,Ripple,1,1,1,not-a-time\n",
    "ADA,Cardano,1,1,1,also-not-a-time\n",
]

QUERY = """query ($first: Int) {
  etlRuns(first: 1) { id sources { source rejected
    rejects(first: $first) { locator reason raw rawChars createdAt } } }
}"""


@contextmanager
def loaded(tmp_path: Path, database_url: str, **env: str) -> Iterator[TestClient]:
    """A served app after one ETL run of a CSV file holding ``GOOD`` and ``BAD`` rows."""
    path = tmp_path / "rejects.csv"
    path.write_text(HEAD + "".join(GOOD) + "".join(BAD), encoding="utf-8")
    settings = make_settings(database_url, ADMIN_TOKEN=TOKEN, CSV_PATH=str(path), **env)
    with TestClient(create_app(settings.app_config())) as client:
        ran = client.post(
            "/etl/run", headers={"Authorization": f"Bearer {TOKEN}"}, json={"sources": ["csv"]}
        )
        assert ran.status_code == 200, ran.text
        yield client


def read(client: TestClient, first: int | None) -> dict[str, Any]:
    body = client.post("/graphql", json={"query": QUERY, "variables": {"first": first}}).json()
    assert "errors" not in body, body
    [run] = body["data"]["etlRuns"]
    [source] = run["sources"]
    return dict(source)


def test_a_source_run_lists_its_rejects_with_reasons_oldest_first(
    tmp_path: Path, database_url: str
) -> None:
    with loaded(tmp_path, database_url) as client:
        source = read(client, None)
    assert source["rejected"] == len(BAD)
    rejects = source["rejects"]
    assert len(rejects) == len(BAD)  # the default (10) covers them all
    assert [reject["raw"] for reject in rejects[:2]] == [BAD[0].rstrip("\n"), BAD[1].rstrip("\n")]
    assert "price" in rejects[0]["reason"].lower()
    assert all(reject["reason"] and reject["createdAt"] for reject in rejects)
    assert len({reject["locator"] for reject in rejects}) == len(BAD)  # one per line
    long = rejects[2]
    assert long["rawChars"] == len(BAD[2].rstrip("\n"))
    assert long["raw"] == BAD[2][:REJECT_RAW_SHOWN]  # cut to what a reader is shown


def test_first_limits_the_list_and_is_bounded(tmp_path: Path, database_url: str) -> None:
    with loaded(tmp_path, database_url) as client:
        assert [reject["raw"] for reject in read(client, 2)["rejects"]] == [
            BAD[0].rstrip("\n"),
            BAD[1].rstrip("\n"),
        ]
        for first, message in (
            (0, "first must be at least 1, got 0"),
            (101, "first must be at most 100, got 101"),
        ):
            body = client.post("/graphql", json={"query": QUERY, "variables": {"first": first}})
            errors = body.json()["errors"]
            assert [error["message"] for error in errors] == [message]
            assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_only_stored_rejects_are_listed(tmp_path: Path, database_url: str) -> None:
    with loaded(tmp_path, database_url, ETL_MAX_REJECTS_STORED="3") as client:
        source = read(client, 10)
    assert source["rejected"] == len(BAD)  # every reject counted
    assert len(source["rejects"]) == 3  # only the stored ones listed
