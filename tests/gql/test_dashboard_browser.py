"""The dashboard in headless Chromium, on a store the ETL filled from the shipped CSVs.

Each page loads without console errors at desktop and phone widths, shows the numbers the
API gives, the asset page's interval switch changes the chart's data, and a price loaded
while a page is open appears there (through the priceChanges subscription, and by polling
when the subscription is refused). Screenshots go to the test's ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from kasparro.etl.pipeline import run_etl
from kasparro.gql.app import create_app
from kasparro.settings import Settings
from tests.conftest import REPO, make_settings
from tests.support.hostile_upstream import dripping, dripping_tickers
from tests.support.servers import serve_in_thread
from tests.support.waiting import wait_until
from tests.support.webdriver import Browser, browser_missing, chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
]

ADMIN_TOKEN = "dashboard-admin-token-for-tests"
WIDTHS = (1280, 390)
PAGES = ("/", "/spread", "/runs", "/assets/bitcoin")
READY = "return document.body.dataset.state === 'ready' ? document.body.dataset.renders : null"


@dataclass
class Dashboard:
    base: str
    settings: Settings
    engine: Engine
    csv: Path
    csv2: Path

    def graphql(self, query: str, **variables: Any) -> Any:
        response = httpx.post(
            f"{self.base}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def etl(self) -> None:
        run_etl(self.engine, self.settings.etl_config(), trigger="manual")

    def disagree(self) -> None:
        """Make the sources disagree: the sample files never quote one asset on the same
        day from both, so each consensus has one quote. This adds csv2's Bitcoin on csv's
        last day, 11 % above csv's close: both quotes are outliers, Bitcoin diverges."""
        with self.csv2.open("a", encoding="utf-8") as out:
            out.write("9999,Bitcoin,BTC,2021-07-06 23:59:59,38000,38000,38000,38000,1,1\n")
        self.etl()


@contextlib.contextmanager
def serving(database_url: str, engine: Engine, tmp_path: Path, **env: str) -> Iterator[Dashboard]:
    """The ETL's sample CSVs (copies, so a test may change them) loaded; the app served with
    ``env`` added to the settings."""
    csv = tmp_path / "data.csv"
    csv2 = tmp_path / "data2.csv"
    shutil.copyfile(REPO / "data" / "data.csv", csv)
    shutil.copyfile(REPO / "data" / "data2.csv", csv2)
    settings = make_settings(
        database_url,
        **{
            "ETL_SOURCES": "csv,csv2",
            "CSV_PATH": str(csv),
            "CSV2_PATH": str(csv2),
            "DASHBOARD_POLL_SECONDS": "1",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            **env,
        },
    )
    run_etl(engine, settings.etl_config(), trigger="manual", sources=["csv", "csv2"])
    with serve_in_thread(create_app(settings.app_config())) as base:
        yield Dashboard(base, settings, engine, csv, csv2)


@pytest.fixture
def dashboard(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[Dashboard]:
    with serving(database_url, engine, tmp_path) as served:
        yield served


def shown_number(text: str) -> tuple[Decimal, Decimal]:
    """A formatted number and half a unit of its last digit (what rounding may hide)."""
    plain = text.replace(",", "").replace("⚠", "").strip()
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    return Decimal(plain), Decimal(5) / Decimal(10) ** (decimals + 1)


def assert_shows(text: str, value: float) -> None:
    number, slack = shown_number(text)
    assert abs(number - Decimal(repr(value))) <= slack, (text, value)


def page_errors(browser: Browser) -> list[str]:
    """The console's errors (a refused subscription is closed by the server after the
    handshake, which Chromium does not log as an error)."""
    return list(browser.console_errors())


def open_page(browser: Browser, url: str) -> str:
    """Open ``url`` and wait until the page shows its data; the page's render count."""
    browser.open(url)

    def state() -> str:
        error = browser.script("return document.getElementById('error')?.innerText")
        return f"{url} to show its data; error {error!r}, console {browser.console_errors()}"

    renders: str = wait_until(lambda: browser.script(READY), 30, state, interval=0.2)
    return renders


CELLS = """
return [...document.querySelectorAll(arguments[0])].map(cell => ({
  asset: cell.closest('tr').dataset.asset || null,
  source: cell.dataset.source || null,
  kind: cell.dataset.kind || null,
  value: cell.dataset.value,
  text: (cell.querySelector('.value') || cell).innerText,
}))
"""


def test_each_page_loads_without_errors_at_two_widths(dashboard: Dashboard, tmp_path: Path) -> None:
    dashboard.disagree()
    with chromium() as browser:
        for width in WIDTHS:
            browser.resize(width, 900)
            for page in PAGES:
                open_page(browser, f"{dashboard.base}{page}")
                overflow = browser.script(
                    "const root = document.documentElement;"
                    "return root.scrollWidth - root.clientWidth"
                )
                name = page.strip("/").replace("/", "-") or "prices"
                (tmp_path / f"{name}-{width}.png").write_bytes(browser.screenshot_png())
                assert page_errors(browser) == [], (page, width)
                assert overflow <= 0, (page, width, "the page scrolls sideways")
                assert browser.wait_for("return document.body.dataset.live") == "live"


def test_prices_show_the_apis_numbers(dashboard: Dashboard) -> None:
    dashboard.disagree()
    api = dashboard.graphql(
        "{ latestPrices { asset { id } source value timestamp }"
        "  consensus { asset { id } median spreadPct quotes { source outlier } } }"
    )
    latest = {(p["asset"]["id"], p["source"]): p["value"] for p in api["latestPrices"]}
    consensus = {c["asset"]["id"]: c for c in api["consensus"]}
    with chromium() as browser:
        open_page(browser, dashboard.base + "/")
        quotes = browser.script(CELLS, "#prices-table td[data-source][data-value]")
        medians = browser.script(CELLS, "#prices-table td[data-kind=consensus]")
        spreads = browser.script(CELLS, "#prices-table td[data-kind=spread]")
        outliers = browser.script(CELLS, "#prices-table td.outlier")
        # The symbol filter keeps only the matching rows.
        browser.script(
            "const f = document.getElementById('symbol-filter');"
            "f.value = 'eth'; f.dispatchEvent(new Event('input'))"
        )
        filtered = browser.script(
            "return [...document.querySelectorAll('#prices-table tbody tr')]"
            ".map(r => r.dataset.asset)"
        )
        # Sorting by consensus, descending: the first row is the highest median.
        browser.script(
            "const f = document.getElementById('symbol-filter');"
            "f.value = ''; f.dispatchEvent(new Event('input'));"
            "document.querySelector('th[data-key=consensus] button').click()"
        )
        first = browser.script(
            "return document.querySelector('#prices-table tbody tr').dataset.asset"
        )
        assert page_errors(browser) == []
    assert {(q["asset"], q["source"]) for q in quotes} == set(latest)
    for quote in quotes:
        assert float(quote["value"]) == latest[(quote["asset"], quote["source"])]
        assert_shows(quote["text"], latest[(quote["asset"], quote["source"])])
    assert {m["asset"] for m in medians} == set(consensus)
    for median in medians:
        assert_shows(median["text"], consensus[median["asset"]]["median"])
    for spread in spreads:
        assert_shows(spread["text"], consensus[spread["asset"]]["spreadPct"])
    assert {(o["asset"], o["source"]) for o in outliers} == {
        (asset, q["source"]) for asset, c in consensus.items() for q in c["quotes"] if q["outlier"]
    }
    assert outliers  # the disagreement is shown
    assert filtered and all("eth" in asset for asset in filtered)
    assert first == max(consensus, key=lambda asset: consensus[asset]["median"])


def test_divergences_and_runs_show_the_apis_answers(dashboard: Dashboard) -> None:
    dashboard.disagree()
    api = dashboard.graphql(
        "{ divergences(minSpreadPct: 1, first: 100) { asset { id } spreadPct median }"
        "  etlRuns(first: 20) { id sources { source inserted rejected } } }"
    )
    with chromium() as browser:
        open_page(browser, dashboard.base + "/spread")
        rows = browser.script(CELLS, "#divergences-table td[data-kind=spread]")
        open_page(browser, dashboard.base + "/runs")
        runs = browser.script(
            "return [...document.querySelectorAll('details.run')].map(d => ({"
            " id: Number(d.dataset.run), sources: [...d.querySelectorAll('tbody tr[data-source]')]"
            ".map(r => ({source: r.dataset.source,"
            " inserted: Number(r.querySelector('[data-count=inserted]').textContent),"
            " rejected: parseInt(r.querySelector('[data-count=rejected]').textContent)}))}))"
        )
        button = browser.script("return document.getElementById('run-now-button').hidden")
        assert page_errors(browser) == []
    assert [r["asset"] for r in rows] == [d["asset"]["id"] for d in api["divergences"]]
    assert "bitcoin" in [r["asset"] for r in rows]
    for row, divergence in zip(rows, api["divergences"], strict=True):
        assert_shows(row["text"], divergence["spreadPct"])
    assert runs == api["etlRuns"]
    assert button is True  # no token entered: no "run now"


def test_a_source_runs_rejects_open_with_their_reasons(dashboard: Dashboard) -> None:
    with dashboard.csv.open("a", encoding="utf-8") as out:
        out.write("BTC,Bitcoin,not-a-price,1,1,2021-07-07T00:00:00Z\n")
        out.write("ETH,<b>Ethereum</b>,-1,1,1,2021-07-07T00:00:00Z\n")
    dashboard.etl()
    [run] = dashboard.graphql(
        "{ etlRuns(first: 1) { id sources { source rejected rejects { locator reason } } } }"
    )["etlRuns"]
    [csv] = [source for source in run["sources"] if source["source"] == "csv"]
    assert csv["rejected"] == 2
    with chromium() as browser:
        open_page(browser, dashboard.base + "/runs")
        shown = browser.script(
            "const row = document.querySelector(`details.run[data-run='${arguments[0]}']"
            " tr[data-source=csv]`);"
            "row.querySelector('[data-count=rejected] button').click();"
            "const why = row.nextElementSibling;"
            "return {hidden: why.hidden, items: [...why.querySelectorAll('li')].map(li =>"
            " ({locator: li.dataset.locator, text: li.textContent})),"
            " markup: why.querySelectorAll('b').length}",
            str(run["id"]),
        )
        assert page_errors(browser) == []
    assert shown["hidden"] is False
    assert [item["locator"] for item in shown["items"]] == [r["locator"] for r in csv["rejects"]]
    for item, reject in zip(shown["items"], csv["rejects"], strict=True):
        assert item["text"] == f"{reject['locator']} {reject['reason']}"
    assert shown["markup"] == 0  # text from the input is shown as text


CANDLES = """
query($interval: CandleInterval!, $source: [String!]) {
  candles(asset: "bitcoin", source: $source, interval: $interval, first: 1000) { start close }
}
"""
TABLE = """
const table = document.getElementById('candles-table');
return {interval: table.dataset.interval,
  rows: [...table.tBodies[0].rows].map(r => ({start: r.dataset.start,
    cells: [...r.querySelectorAll('td[data-source][data-value]')]
      .map(c => [c.dataset.source, Number(c.dataset.value)])}))}
"""


def expected_table(dashboard: Dashboard, interval: str) -> dict[str, Any]:
    rows: dict[str, list[list[Any]]] = {}
    for source in ("csv", "csv2"):
        candles = dashboard.graphql(CANDLES, interval=interval, source=[source])["candles"]
        for candle in candles:
            rows.setdefault(candle["start"], []).append([source, candle["close"]])
    return {
        "interval": interval,
        "rows": [{"start": start, "cells": rows[start]} for start in sorted(rows)],
    }


def test_the_interval_switch_changes_the_chart(dashboard: Dashboard, tmp_path: Path) -> None:
    with chromium() as browser:
        renders = open_page(browser, f"{dashboard.base}/assets/bitcoin?range=all")
        daily = browser.script(TABLE)
        browser.script("document.querySelector('input[name=interval][value=WEEK_1]').click()")
        browser.wait_for(
            "return document.body.dataset.state === 'ready'"
            " && document.body.dataset.renders !== arguments[0]",
            renders,
        )
        weekly = browser.script(TABLE)
        points = browser.script(
            "return document.querySelectorAll('#chart .u-over').length"
            " && document.getElementById('chart-summary').innerText"
        )
        link = browser.script("return document.getElementById('graphiql-link').href")
        csv = browser.script("return document.getElementById('csv-link').href")
        (tmp_path / "asset-weekly.png").write_bytes(browser.screenshot_png())
        assert page_errors(browser) == []
        # The link opens GraphiQL with the page's query and variables, ready to run.
        browser.open(link)
        browser.wait_for("return document.querySelector('.graphiql-execute-button') !== null")
        browser.script("document.querySelector('.graphiql-execute-button').click()")
        answer = browser.wait_for(
            "const r = document.querySelector('.graphiql-response .CodeMirror');"
            "return r && r.innerText.includes('close') ? r.innerText : null"
        )
    assert daily == expected_table(dashboard, "DAY_1")
    assert weekly == expected_table(dashboard, "WEEK_1")
    assert len(weekly["rows"]) < len(daily["rows"])
    assert f"{len(weekly['rows'])} 1w buckets" in points
    assert "/graphql?q=" in link and "WEEK_1" in link
    first_csv = dashboard.graphql(CANDLES, interval="WEEK_1", source=["csv"])["candles"][0]
    assert f'"close": {first_csv["close"]}' in answer.replace("\xa0", " ")  # s0 is csv
    assert httpx.get(csv, timeout=30).text.count("\n") > len(daily["rows"])


@pytest.mark.parametrize(
    ("mode", "env"),
    [
        ("live", {}),  # the priceChanges subscription over graphql-transport-ws
        ("polling", {"SUBSCRIPTION_TOKEN": "the-page-does-not-know-it"}),  # refused: 4403
    ],
)
def test_a_new_price_appears_while_the_page_is_open(
    mode: str, env: dict[str, str], database_url: str, engine: Engine, tmp_path: Path
) -> None:
    with serving(database_url, engine, tmp_path, **env) as dashboard, chromium() as browser:
        open_page(browser, dashboard.base + "/")
        before = browser.script(CELLS, "#prices-table tr[data-asset=bitcoin] td[data-source=csv]")
        assert browser.wait_for("return document.body.dataset.live") == mode
        with dashboard.csv.open("a", encoding="utf-8") as out:
            out.write("BTC,Bitcoin,12345.67,1,1,2021-07-07T23:59:59Z\n")
        dashboard.etl()
        after = browser.wait_for(
            "const c = document.querySelector("
            "'#prices-table tr[data-asset=bitcoin] td[data-source=csv]');"
            "return c && c.dataset.value === '12345.67' ? c.innerText : null"
        )
        assert page_errors(browser) == []
    assert before[0]["value"] != "12345.67"
    assert after.startswith("12,345.67")


ENTER, RIGHT = "\ue007", "\ue014"


def test_the_controls_work_from_the_keyboard(dashboard: Dashboard) -> None:
    """Sorting, filtering and the interval switch without a mouse."""
    with chromium() as browser:
        open_page(browser, dashboard.base + "/")
        browser.send_keys("th[data-key=consensus] button", ENTER)
        sorted_by = browser.script(
            "return document.querySelector('th[data-key=consensus]').getAttribute('aria-sort')"
        )
        focused = browser.script("return document.activeElement.closest('th').dataset.key")
        browser.send_keys("#symbol-filter", "btc")
        shown = browser.script(
            "return [...document.querySelectorAll('#prices-table tbody tr')]"
            ".map(r => r.dataset.asset)"
        )
        renders = open_page(browser, f"{dashboard.base}/assets/bitcoin?range=all")
        browser.send_keys("input[name=interval][value=DAY_1]", RIGHT)  # the next radio
        browser.wait_for(
            "return document.body.dataset.state === 'ready'"
            " && document.body.dataset.renders !== arguments[0]",
            renders,
        )
        interval = browser.script(
            "return document.getElementById('candles-table').dataset.interval"
        )
        summary = browser.script("return document.getElementById('chart-summary').innerText")
        assert page_errors(browser) == []
    assert sorted_by == "descending" and focused == "consensus"
    assert shown == ["bitcoin"]
    assert interval == "WEEK_1"
    assert "1w buckets" in summary and "csv" in summary


def test_run_now_needs_the_token_and_keeps_it_nowhere(dashboard: Dashboard) -> None:
    result = "return document.getElementById('run-now-result').innerText"
    with chromium() as browser:
        open_page(browser, dashboard.base + "/runs")
        browser.send_keys("#admin-token", "wrong-token")
        assert browser.script("return document.getElementById('run-now-button').hidden") is False
        browser.send_keys("#run-now-button", ENTER)
        refused = browser.wait_for(
            f"const r = (() => {{ {result} }})(); return r.startsWith('refused') && r"
        )
        browser.script(
            "const t = document.getElementById('admin-token');"
            "t.value = arguments[0]; t.dispatchEvent(new Event('input'))",
            ADMIN_TOKEN,
        )
        browser.send_keys("#run-now-button", ENTER)
        started = browser.wait_for(
            f"const r = (() => {{ {result} }})(); return r.startsWith('run ') && r"
        )
        run_id = int(started.split()[1].rstrip(":"))
        status = browser.wait_for(
            "const d = document.querySelector(`details.run[data-run='${arguments[0]}']`);"
            "return d && d.dataset.status !== 'RUNNING' ? d.dataset.status : null",
            run_id,
        )
        kept = browser.script(
            "return JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie,"
            " location.href, history.length])"
        )
        assert page_errors(browser) == []
    assert "401" in refused or "token" in refused.lower()
    assert status == "SUCCESS"
    assert [run["id"] for run in dashboard.graphql("{ etlRuns(first: 1) { id } }")["etlRuns"]] == [
        run_id
    ]
    assert ADMIN_TOKEN not in kept and "wrong-token" not in kept


def test_a_running_run_shows_its_progress(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """A run whose CoinPaprika source waits on an upstream that never answers is RUNNING
    for HTTP_TIMEOUT_SECONDS: the runs page shows its progress bar, then its end."""
    with (
        dripping(dripping_tickers(), every=math.inf) as stalled,
        serving(
            database_url,
            engine,
            tmp_path,
            ETL_SOURCES="csv,csv2,coinpaprika",
            COINPAPRIKA_BASE_URL=f"{stalled.base_url}/v1",
            HTTP_TIMEOUT_SECONDS="4",
        ) as dashboard,
        chromium() as browser,
    ):
        open_page(browser, dashboard.base + "/runs")
        started = httpx.post(
            f"{dashboard.base}/etl/run",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        assert started.status_code in (200, 202), started.text
        progress = browser.wait_for(
            "const d = document.querySelector('details.run[data-status=RUNNING]');"
            "return d && d.querySelector('progress') ? d.dataset.run : null"
        )
        ended = browser.wait_for(
            "const d = document.querySelector(`details.run[data-run='${arguments[0]}']`);"
            "return d && d.dataset.status !== 'RUNNING' && !d.querySelector('progress')"
            " ? d.dataset.status : null",
            progress,
        )
        assert page_errors(browser) == []
    assert ended == "PARTIAL"  # the CSVs loaded, CoinPaprika timed out
